package test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/lodge-project/lodge/api"
)

// fakeLXD is an image server speaking LXD's protocol on loopback, serving
// whatever the test gives it under an alias: a stand-in for a hostile or
// broken server.
type fakeLXD struct {
	srv *httptest.Server
	mu  sync.Mutex
	// images by alias: the fingerprint announced and the bytes served.
	images map[string]fakeImage
}

type fakeImage struct {
	announce string
	body     []byte
	// cut, when set, ends the download after that many bytes.
	cut int
}

func newFakeLXD(t *testing.T) *fakeLXD {
	f := &fakeLXD{images: map[string]fakeImage{}}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeLXD) add(alias string, img fakeImage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if img.announce == "" {
		sum := sha256.Sum256(img.body)
		img.announce = hex.EncodeToString(sum[:])
	}
	f.images[alias] = img
}

func (f *fakeLXD) certPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}))
}

func (f *fakeLXD) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sync := func(md any) {
		data, _ := json.Marshal(md)
		_ = json.NewEncoder(w).Encode(api.Response{Type: api.SyncResponse, Status: "Success", StatusCode: 200, Metadata: data})
	}
	byFP := func(fp string) (fakeImage, bool) {
		for _, img := range f.images {
			if img.announce == fp {
				return img, true
			}
		}
		return fakeImage{}, false
	}
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, "/1.0/images/aliases/"):
		if img, ok := f.images[strings.TrimPrefix(path, "/1.0/images/aliases/")]; ok {
			sync(api.ImageAliasesEntry{Name: "x", Target: img.announce, Type: "container"})
			return
		}
	case strings.HasSuffix(path, "/export"):
		if img, ok := byFP(strings.TrimSuffix(strings.TrimPrefix(path, "/1.0/images/"), "/export")); ok {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", strconv.Itoa(len(img.body)))
			if img.cut > 0 {
				_, _ = w.Write(img.body[:img.cut])
				// Hang up mid-body: the client sees a short read.
				if hj, ok := w.(http.Hijacker); ok {
					if conn, _, err := hj.Hijack(); err == nil {
						conn.Close()
					}
				}
				return
			}
			_, _ = w.Write(img.body)
			return
		}
	case strings.HasPrefix(path, "/1.0/images/"):
		if img, ok := byFP(strings.TrimPrefix(path, "/1.0/images/")); ok {
			sync(api.Image{Fingerprint: img.announce, Public: true, Type: "container", Architecture: "x86_64", Size: int64(len(img.body))})
			return
		}
	}
	w.WriteHeader(http.StatusNotFound)
	_ = json.NewEncoder(w).Encode(api.Response{Type: api.ErrorResponse, Error: "not found", ErrorCode: 404})
}

// TestHostileImageServers pulls images from servers that lie or attack:
// every import check holds for downloads, a wrong hash or a cut download
// fails with a clear error, and none leaves an image or a file behind.
func TestHostileImageServers(t *testing.T) {
	d := startDaemon(t)
	fake := newFakeLXD(t)
	good := imageTarball(t, map[string]string{"metadata.yaml": hostileMetadata, "rootfs/bin/sh": "x"}, nil, nil)
	fake.add("link", fakeImage{body: imageTarball(t, map[string]string{"metadata.yaml": hostileMetadata}, map[string]string{"rootfs": "/etc"}, nil)})
	fake.add("meta-link", fakeImage{body: imageTarball(t, map[string]string{"rootfs/bin/sh": "x"}, map[string]string{"metadata.yaml": "/etc/shadow"}, nil)})
	fake.add("devices", fakeImage{body: imageTarball(t, map[string]string{"metadata.yaml": hostileMetadata, "rootfs/bin/sh": "x"}, nil, []string{"rootfs/dev/hostdisk"})})
	fake.add("wrong-hash", fakeImage{body: good, announce: strings.Repeat("ab", 32)})
	fake.add("cut", fakeImage{body: good, cut: len(good) / 2})

	pull := func(alias string) (int, string) {
		t.Helper()
		req := api.ImagesPost{Source: &api.ImagesPostSource{Type: "image", Mode: "pull",
			ImageSource: api.ImageSource{Server: fake.srv.URL, Protocol: "lxd", Alias: alias, Certificate: fake.certPEM()}}}
		st, env := d.API("POST", "/1.0/images", req)
		return st, env.Error
	}
	noLeftovers := func(after string) {
		t.Helper()
		_, env := d.API("GET", "/1.0/images", nil)
		if string(env.Metadata) != "[]" {
			t.Fatalf("after %s: images %s", after, env.Metadata)
		}
		for _, dir := range []string{filepath.Join(d.Dir, "images"), filepath.Join(d.Dir, "storage-pools", "default", "images")} {
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Fatalf("after %s: %s holds %v", after, dir, left)
			}
		}
	}
	launch := func(name, alias string) (int, string) {
		t.Helper()
		st, env := d.API("POST", "/1.0/instances", api.InstancesPost{Name: name, Source: api.InstanceSource{Type: "image", Server: fake.srv.URL,
			Protocol: "lxd", Alias: alias, Certificate: fake.certPEM()}})
		return st, env.Error
	}
	// A launch unpacks as it downloads: every check holds, and a failure
	// leaves no image, no volume and no instance.
	for alias, want := range map[string]string{
		"link":       "symbolic link",
		"meta-link":  "symbolic link",
		"wrong-hash": "tampered with",
		"cut":        "unexpected EOF",
		"missing":    "not found",
	} {
		if st, msg := launch("c1", alias); st != 400 || !strings.Contains(msg, want) {
			t.Fatalf("launching %q: %d %q (want a failure saying %q)", alias, st, msg, want)
		}
		if st, _ := d.API("GET", "/1.0/instances/c1", nil); st != 404 {
			t.Fatalf("a failed launch of %q left instance c1: %d", alias, st)
		}
		noLeftovers("launching " + alias)
	}
	// A copy (image copy) is unpacked at its first launch, as LXD's is:
	// what can be told from the download fails it now, the rest fails
	// that launch, leaving nothing unpacked.
	for alias, want := range map[string]string{
		"meta-link":  "metadata.yaml",
		"wrong-hash": "tampered with",
		"cut":        "unexpected EOF",
		"missing":    "not found",
	} {
		if st, msg := pull(alias); st != 400 || !strings.Contains(msg, want) {
			t.Fatalf("pulling %q: %d %q (want a failure saying %q)", alias, st, msg, want)
		}
		noLeftovers("pulling " + alias)
	}
	if st, msg := pull("link"); st != 202 {
		t.Fatalf("copying an image whose rootfs is a link: %d %q", st, msg)
	}
	var copied []api.Image
	_, env := d.API("GET", "/1.0/images?recursion=1", nil)
	_ = json.Unmarshal(env.Metadata, &copied)
	if len(copied) != 1 {
		t.Fatalf("images after the copy: %s", env.Metadata)
	}
	st, env := d.API("POST", "/1.0/instances", api.InstancesPost{Name: "c2", Source: api.InstanceSource{Type: "image", Fingerprint: copied[0].Fingerprint}})
	if st != 400 || !strings.Contains(env.Error, "symbolic link") {
		t.Fatalf("launching the copied hostile image: %d %q", st, env.Error)
	}
	if left, _ := os.ReadDir(filepath.Join(d.Dir, "storage-pools", "default", "images")); len(left) != 0 {
		t.Fatalf("the failed launch left image volumes: %v", left)
	}
	if st, env := d.API("DELETE", "/1.0/images/"+copied[0].Fingerprint, nil); st != 202 {
		t.Fatalf("delete the copied image: %d %q", st, env.Error)
	}
	noLeftovers("deleting the copied image")

	// Device nodes are dropped, as at import; the image is kept.
	if st, msg := pull("devices"); st != 202 {
		t.Fatalf("pulling an image with device nodes: %d %q", st, msg)
	}
	var devices []string
	_ = filepath.WalkDir(filepath.Join(d.Dir, "storage-pools"), func(path string, e os.DirEntry, err error) error {
		if err == nil && e.Type()&os.ModeDevice != 0 {
			devices = append(devices, path)
		}
		return nil
	})
	if len(devices) != 0 {
		t.Fatalf("device nodes after the download: %v", devices)
	}

	// A server whose certificate is not the one given is refused.
	// (lodged's own certificate stands for the one expected.)
	other, err := os.ReadFile(filepath.Join(d.Dir, "server.crt"))
	if err != nil {
		t.Fatal(err)
	}
	req := api.ImagesPost{Source: &api.ImagesPostSource{Type: "image", Mode: "pull",
		ImageSource: api.ImageSource{Server: fake.srv.URL, Protocol: "lxd", Alias: "devices", Certificate: string(other)}}}
	if st, env = d.API("POST", "/1.0/images", req); st != 400 || !strings.Contains(env.Error, "certificate changed") {
		t.Fatalf("a server with another certificate: %d %q", st, env.Error)
	}

	// Unreachable: a closed port, and one that accepts but never
	// speaks TLS; each fails within the timeouts, not a hang.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mute := ln.Addr().String()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	defer ln.Close()
	closed := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	for _, addr := range []string{closed, mute} {
		req := api.ImagesPost{Source: &api.ImagesPostSource{Type: "image", Mode: "pull",
			ImageSource: api.ImageSource{Server: "https://" + addr, Protocol: "lxd", Alias: "x"}}}
		if st, env := d.API("POST", "/1.0/images", req); st != 400 || !strings.Contains(env.Error, "cannot reach") {
			t.Fatalf("pulling from %s: %d %q", addr, st, env.Error)
		}
	}
}

// fakeStreams serves images over simplestreams on loopback, each under
// its alias as one unified item whose sha256 the index gives truly: the
// files are what the index says, and hostile all the same.
func fakeStreams(t *testing.T, images map[string][]byte) *httptest.Server {
	t.Helper()
	products := map[string]any{}
	for alias, body := range images {
		sum := sha256.Sum256(body)
		fp := hex.EncodeToString(sum[:])
		products[alias] = map[string]any{"aliases": alias, "arch": "amd64", "os": "Hostile", "release": alias, "release_title": alias,
			"versions": map[string]any{"20260101_00:00": map[string]any{"items": map[string]any{
				"lxd_combined.tar.gz": map[string]any{"ftype": "lxd_combined.tar.gz", "path": "images/" + alias, "sha256": fp, "size": len(body)}}}}}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/streams/v1/index.json", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"format": "index:1.0", "index": map[string]any{
			"images": map[string]any{"datatype": "image-downloads", "path": "streams/v1/images.json", "products": []string{"x"}}}})
	})
	mux.HandleFunc("/streams/v1/images.json", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"format": "products:1.0", "datatype": "image-downloads", "products": products})
	})
	mux.HandleFunc("/images/", func(w http.ResponseWriter, r *http.Request) {
		body, ok := images[strings.TrimPrefix(r.URL.Path, "/images/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(body)
	})
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestHostileSimplestreams: images whose files match the index but whose
// trees attack are refused at launch as an upload is, leaving nothing.
func TestHostileSimplestreams(t *testing.T) {
	d := startDaemon(t)
	srv := fakeStreams(t, map[string][]byte{
		"link":      imageTarball(t, map[string]string{"metadata.yaml": hostileMetadata}, map[string]string{"rootfs": "/etc"}, nil),
		"meta-link": imageTarball(t, map[string]string{"rootfs/bin/sh": "x"}, map[string]string{"metadata.yaml": "/etc/shadow"}, nil),
		"climb":     imageTarball(t, map[string]string{"metadata.yaml": hostileMetadata, "rootfs/bin/sh": "x", "../../escaped": "x"}, nil, nil),
	})
	cert := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	for alias, want := range map[string]string{"link": "symbolic link", "meta-link": "symbolic link", "climb": "malformed"} {
		st, env := d.API("POST", "/1.0/instances", api.InstancesPost{Name: "c1", Source: api.InstanceSource{Type: "image", Server: srv.URL,
			Protocol: "simplestreams", Alias: alias, Certificate: cert}})
		if st != 400 || !strings.Contains(env.Error, want) {
			t.Fatalf("launching %q over simplestreams: %d %q (want %q)", alias, st, env.Error, want)
		}
		if _, err := os.Stat("/escaped"); err == nil {
			t.Fatal("a member climbed out of the image onto the host")
		}
		_, env = d.API("GET", "/1.0/images", nil)
		if string(env.Metadata) != "[]" {
			t.Fatalf("after launching %q: images %s", alias, env.Metadata)
		}
		for _, dir := range []string{filepath.Join(d.Dir, "images"), filepath.Join(d.Dir, "storage-pools", "default", "images")} {
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Fatalf("after launching %q: %s holds %v", alias, dir, left)
			}
		}
	}
}
