package image

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/imageserver"
)

// Lodge's public images as a simplestreams tree, so that Lodge (or any
// web server given lodge image export-streams' folder) is an image server
// for LXD and Lodge clients alike: streams/v1/index.json,
// streams/v1/images.json, and images/<fingerprint>/<file>. An image
// imported unified is one lxd_combined.tar.gz file (its hash is its
// fingerprint); a split one is lxd.tar.xz and rootfs.squashfs or
// root.tar.xz, with the combined hash on the metadata item.

// StreamsIndexPath and StreamsProductsPath are the tree's JSON files.
const (
	StreamsIndexPath    = "streams/v1/index.json"
	StreamsProductsPath = "streams/v1/images.json"
)

// fileHashes caches the sha256 of image files by path, size and mtime:
// a split image's files are hashed once, not at every index request.
var fileHashes sync.Map

func hashFile(path string) (string, int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", 0, err
	}
	key := fmt.Sprintf("%s:%d:%d", path, st.Size(), st.ModTime().UnixNano())
	if h, ok := fileHashes.Load(key); ok {
		return h.(string), st.Size(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", 0, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	fileHashes.Store(key, sum)
	return sum, st.Size(), nil
}

// streamFile is one file of the tree: its name under images/<fp>/, the
// stored file it is, and its item type.
type streamFile struct {
	name, path, ftype string
}

func (s *Service) streamFiles(fp string) []streamFile {
	meta, rootfs := s.Files(fp)
	if rootfs == "" {
		return []streamFile{{imageserver.FileUnified, meta, imageserver.FileUnified}}
	}
	root := streamFile{"root.tar.xz", rootfs, imageserver.FileRootTar}
	if isSquashfs(rootfs) {
		root = streamFile{"rootfs.squashfs", rootfs, imageserver.FileSquashfs}
	}
	return []streamFile{{"lxd.tar.xz", meta, imageserver.FileMeta}, root}
}

// StreamsIndex is index.json for project proj's public images.
func (s *Service) StreamsIndex(proj string) (imageserver.StreamIndex, error) {
	imgs, err := s.List(proj)
	if err != nil {
		return imageserver.StreamIndex{}, err
	}
	keys := []string{}
	for _, img := range imgs {
		if img.Public {
			keys = append(keys, img.Fingerprint)
		}
	}
	sort.Strings(keys)
	return imageserver.StreamIndex{Format: "index:1.0", Updated: time.Now().UTC().Format(time.RFC1123Z),
		Index: map[string]imageserver.StreamIndexRef{"images": {DataType: "image-downloads", Format: "products:1.0",
			Path: StreamsProductsPath, Products: keys}}}, nil
}

// StreamsProducts is images.json for project proj's public images.
func (s *Service) StreamsProducts(proj string) (imageserver.Products, error) {
	imgs, err := s.List(proj)
	if err != nil {
		return imageserver.Products{}, err
	}
	out := imageserver.Products{ContentID: "images", DataType: "image-downloads", Format: "products:1.0",
		Updated: time.Now().UTC().Format(time.RFC1123Z), Products: map[string]imageserver.Product{}}
	for _, img := range imgs {
		if !img.Public || img.Type != "container" {
			continue
		}
		items := map[string]imageserver.Item{}
		for _, f := range s.streamFiles(img.Fingerprint) {
			sum, size, err := hashFile(f.path)
			if err != nil {
				return out, fmt.Errorf("image %s: %w", img.Fingerprint[:12], err)
			}
			items[f.name] = imageserver.Item{FileType: f.ftype, Path: "images/" + img.Fingerprint + "/" + f.name, SHA256: sum, Size: size}
		}
		if meta, ok := items["lxd.tar.xz"]; ok {
			meta.CombinedSHA256 = img.Fingerprint
			if _, squash := items["rootfs.squashfs"]; squash {
				meta.CombinedSquashfsSHA256 = img.Fingerprint
			} else {
				meta.CombinedRootxzSHA256 = img.Fingerprint
			}
			items["lxd.tar.xz"] = meta
		}
		var aliases []string
		for _, a := range img.Aliases {
			aliases = append(aliases, a.Name)
		}
		release := img.Properties["release"]
		if release == "" {
			release = img.Fingerprint[:12]
		}
		osName := img.Properties["os"]
		if osName == "" {
			osName = "Lodge"
		}
		out.Products[img.Fingerprint] = imageserver.Product{
			Aliases: strings.Join(aliases, ","), Arch: imageserver.DebianArch(img.Architecture), OS: osName,
			Release: release, ReleaseTitle: release, Variant: img.Properties["variant"],
			Versions: map[string]imageserver.Version{img.CreatedAt.UTC().Format("20060102_15:04"): {Items: items, Label: img.Properties["description"]}},
		}
	}
	return out, nil
}

// StreamsFile is the stored file behind images/<fp>/<name>, when fp is a
// public image of project proj.
func (s *Service) StreamsFile(proj, fp, name string) (string, error) {
	img, _, err := s.Get(proj, fp)
	if err != nil || !img.Public || img.Fingerprint != fp {
		return "", apierr.NotFound("images/%s/%s", fp, name)
	}
	for _, f := range s.streamFiles(fp) {
		if f.name == name {
			return f.path, nil
		}
	}
	return "", apierr.NotFound("images/%s/%s", fp, name)
}
