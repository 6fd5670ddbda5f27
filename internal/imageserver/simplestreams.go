package imageserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
)

// Simplestreams image servers (images.linuxcontainers.org, and Lodge's
// own /streams tree): static JSON indexes and files over HTTPS. Every
// file is checked against the size and sha256 the index gives, and the
// image against its fingerprint, by the image service.

// indexLimit bounds the JSON files a server may send.
const indexLimit = 64 << 20

type streamsSource struct {
	base *url.URL
	http *http.Client
	// images are the server's, read at the first Find.
	images []streamImage
}

// streamImage is one image a simplestreams server offers.
type streamImage struct {
	fingerprint string
	arch        string // LXD's name
	debianArch  string
	version     string
	aliases     []string
	meta        Item
	root        *Item
	info        api.Image
}

// OpenSimplestreams opens the simplestreams server whose tree starts at
// server (https://host/path/).
func OpenSimplestreams(server string, opts Options) (Source, error) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, apierr.BadRequest("%q is not an https:// address", server)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	t, err := transportFor(opts.Certificate, nil)
	if err != nil {
		return nil, apierr.BadRequest("%v", err)
	}
	return &streamsSource{base: u, http: &http.Client{Transport: t}}, nil
}

// resolve is the URL of a path the index gives, which must stay on the
// server: no other host, no climbing above the server's base.
func (s *streamsSource) resolve(path string) (*url.URL, error) {
	rel, err := url.Parse(path)
	if err != nil || rel.IsAbs() || rel.Host != "" || strings.HasPrefix(path, "/") || strings.Contains("/"+path+"/", "/../") {
		return nil, fmt.Errorf("%s: the index names %q, which is not a path on the server", s.base, path)
	}
	return s.base.ResolveReference(rel), nil
}

func (s *streamsSource) open(ctx context.Context, path string) (*http.Response, error) {
	u, err := s.resolve(path)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, "GET", u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w", s.base, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %s is missing (%s)", s.base, path, resp.Status)
	}
	return resp, nil
}

func (s *streamsSource) getJSON(ctx context.Context, path string, out any) error {
	resp, err := s.open(ctx, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, indexLimit)).Decode(out); err != nil {
		return fmt.Errorf("%s: %s is not a simplestreams file: %w", s.base, path, err)
	}
	return nil
}

// load reads the index and the products files it names.
func (s *streamsSource) load(ctx context.Context) error {
	if s.images != nil {
		return nil
	}
	var idx StreamIndex
	if err := s.getJSON(ctx, "streams/v1/index.json", &idx); err != nil {
		return err
	}
	s.images = []streamImage{}
	for _, ref := range idx.Index {
		if ref.DataType != "image-downloads" || len(ref.Products) == 0 {
			continue
		}
		var products Products
		if err := s.getJSON(ctx, ref.Path, &products); err != nil {
			return err
		}
		for _, p := range products.Products {
			s.images = append(s.images, productImages(p)...)
		}
	}
	return nil
}

// productImages are the container images of a product's versions.
func productImages(p Product) []streamImage {
	var out []streamImage
	var aliases []string
	for _, a := range strings.Split(p.Aliases, ",") {
		if a = strings.TrimSpace(a); a != "" {
			aliases = append(aliases, a)
		}
	}
	for name, v := range p.Versions {
		if len(name) < 8 {
			continue
		}
		created, err := time.Parse("20060102", name[:8])
		if err != nil {
			continue
		}
		add := func(meta Item, root *Item, fp string) {
			if !fingerprintRE.MatchString(fp) {
				return
			}
			img := streamImage{fingerprint: fp, arch: LXDArch(p.Arch), debianArch: p.Arch, version: name, aliases: aliases, meta: meta, root: root}
			size := meta.Size
			props := map[string]string{"os": p.OS, "release": p.Release, "architecture": p.Arch, "serial": name,
				"description": strings.TrimSpace(fmt.Sprintf("%s %s %s (%s)", p.OS, p.ReleaseTitle, p.Arch, name)), "type": "tar.gz"}
			if p.Variant != "" {
				props["variant"] = p.Variant
			}
			if root != nil {
				size += root.Size
				props["type"] = root.FileType
			}
			img.info = api.Image{Fingerprint: fp, Architecture: img.arch, Public: true, Size: size, Type: "container",
				CreatedAt: created, UploadedAt: created, Properties: props, Filename: lastElem(meta.Path)}
			out = append(out, img)
		}
		for _, item := range v.Items {
			switch item.FileType {
			case FileUnified:
				add(item, nil, item.SHA256)
			case FileMeta:
				for _, root := range v.Items {
					switch root.FileType {
					case FileSquashfs:
						add(item, &root, item.CombinedSquashfsSHA256)
					case FileRootTar:
						fp := item.CombinedRootxzSHA256
						if fp == "" {
							fp = item.CombinedSHA256
						}
						add(item, &root, fp)
					}
				}
			}
		}
	}
	return out
}

func lastElem(path string) string {
	return path[strings.LastIndex(path, "/")+1:]
}

// localArch is this host's architecture, by LXD's name.
func localArch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	}
	return runtime.GOARCH
}

// Find resolves ref as LXD does: an alias of the product for this host's
// architecture (debian/12), an alias with the architecture
// (debian/12/amd64), or a fingerprint prefix; the newest version wins.
func (s *streamsSource) Find(ctx context.Context, ref, imageType string) (Found, error) {
	if imageType != "" && imageType != "container" {
		return Found{}, apierr.NotFound("%s: only container images are supported", s.base)
	}
	if err := s.load(ctx); err != nil {
		return Found{}, err
	}
	var matches []streamImage
	for _, img := range s.images {
		if img.matches(ref) {
			matches = append(matches, img)
		}
	}
	if len(matches) == 0 {
		return Found{}, apierr.NotFound("image %q not found on %s", ref, s.base)
	}
	sort.Slice(matches, func(i, j int) bool {
		a, b := matches[i], matches[j]
		if a.version != b.version {
			return a.version > b.version
		}
		return a.root != nil && a.root.FileType == FileSquashfs && (b.root == nil || b.root.FileType != FileSquashfs)
	})
	if fingerprintPrefix(ref) && len(matches) > 1 && matches[0].fingerprint != matches[1].fingerprint {
		return Found{}, apierr.BadRequest("%q matches several images on %s: give more of the fingerprint", ref, s.base)
	}
	img := matches[0]
	found := Found{Fingerprint: img.fingerprint, Image: img.info, Ref: img}
	found.Image.Aliases = []api.ImageAlias{}
	for _, a := range img.aliases {
		found.Image.Aliases = append(found.Image.Aliases, api.ImageAlias{Name: a})
	}
	return found, nil
}

func fingerprintPrefix(ref string) bool {
	if len(ref) < 8 || len(ref) > 64 {
		return false
	}
	_, err := hex.DecodeString(ref[:len(ref)&^1])
	return err == nil && strings.ToLower(ref) == ref
}

func (img streamImage) matches(ref string) bool {
	if fingerprintPrefix(ref) && strings.HasPrefix(img.fingerprint, ref) {
		return true
	}
	for _, a := range img.aliases {
		if (ref == a && img.arch == localArch()) || ref == a+"/"+img.debianArch {
			return true
		}
	}
	return false
}

func (s *streamsSource) Fetch(ctx context.Context, f Found) (Files, error) {
	img, ok := f.Ref.(streamImage)
	if !ok {
		return Files{}, fmt.Errorf("%s: image %s was not found on this server", s.base, f.Fingerprint)
	}
	meta := &lazyFile{ctx: ctx, s: s, item: img.meta}
	files := Files{Size: img.info.Size}
	if img.root == nil {
		files.Unified = meta
	} else {
		root := &lazyFile{ctx: ctx, s: s, item: *img.root}
		files.Meta, files.Rootfs = meta, root
		files.Close = func() error { meta.close(); root.close(); return nil }
		return files, nil
	}
	files.Close = func() error { meta.close(); return nil }
	return files, nil
}

// lazyFile downloads an item when first read, and checks its size and
// sha256 against the index as it ends: a file that differs is an error
// at its end, never a short or wrong file taken for whole.
type lazyFile struct {
	ctx  context.Context
	s    *streamsSource
	item Item
	body io.ReadCloser
	hash hash.Hash
	n    int64
}

func (f *lazyFile) Read(p []byte) (int, error) {
	if f.body == nil {
		resp, err := f.s.open(f.ctx, f.item.Path)
		if err != nil {
			return 0, err
		}
		f.body, f.hash = resp.Body, sha256.New()
	}
	n, err := f.body.Read(p)
	f.hash.Write(p[:n])
	f.n += int64(n)
	if f.n > f.item.Size {
		return n, fmt.Errorf("%s: %s is larger than the %d bytes the index says", f.s.base, f.item.Path, f.item.Size)
	}
	if err == io.EOF {
		if f.n != f.item.Size {
			return n, fmt.Errorf("%s: %s ended after %d of its %d bytes: %w", f.s.base, f.item.Path, f.n, f.item.Size, io.ErrUnexpectedEOF)
		}
		if sum := hex.EncodeToString(f.hash.Sum(nil)); sum != f.item.SHA256 {
			return n, fmt.Errorf("%s: %s has sha256 %s, the index says %s", f.s.base, f.item.Path, sum, f.item.SHA256)
		}
	}
	return n, err
}

func (f *lazyFile) close() {
	if f.body != nil {
		f.body.Close()
	}
}

// Lister is a Source that can list all its images (a simplestreams
// server: its index is public).
type Lister interface {
	List(ctx context.Context) ([]api.Image, error)
}

// List is every container image the server offers, with the aliases
// that resolve to it on this host's architecture.
func (s *streamsSource) List(ctx context.Context) ([]api.Image, error) {
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	out := make([]api.Image, 0, len(s.images))
	for _, img := range s.images {
		info := img.info
		info.Aliases = []api.ImageAlias{}
		for _, a := range img.aliases {
			if found, err := s.Find(ctx, a, ""); err == nil && found.Fingerprint == img.fingerprint {
				info.Aliases = append(info.Aliases, api.ImageAlias{Name: a})
			}
			if found, err := s.Find(ctx, a+"/"+img.debianArch, ""); err == nil && found.Fingerprint == img.fingerprint {
				info.Aliases = append(info.Aliases, api.ImageAlias{Name: a + "/" + img.debianArch})
			}
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Fingerprint < out[j].Fingerprint })
	return out, nil
}
