package imageserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lodge-project/lodge/internal/apierr"
)

var testRegistry = Registry{"lxd": OpenLXD, "simplestreams": OpenSimplestreams}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// streamsServer serves an index with one product on two architectures
// and two versions, and the files given.
func streamsServer(t *testing.T, files map[string][]byte, products map[string]Product) (*httptest.Server, string) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/streams/v1/index.json", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(StreamIndex{Format: "index:1.0", Index: map[string]StreamIndexRef{
			"images": {DataType: "image-downloads", Path: "streams/v1/images.json", Products: []string{"x"}}}})
	})
	mux.HandleFunc("/streams/v1/images.json", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(Products{Format: "products:1.0", DataType: "image-downloads", Products: products})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, ok := files[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(body)
	})
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	return srv, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
}

func TestSimplestreamsFindAndFetch(t *testing.T) {
	meta, root := []byte("metadata tarball"), []byte("rootfs squashfs")
	newMeta := []byte("newer metadata")
	combined := sum(append(append([]byte{}, meta...), root...))
	newer := sum(append(append([]byte{}, newMeta...), root...))
	files := map[string][]byte{"m": meta, "r": root, "m2": newMeta}
	version := func(m []byte, mPath, fp string) Version {
		return Version{Items: map[string]Item{
			"lxd.tar.xz":      {FileType: FileMeta, Path: mPath, SHA256: sum(m), Size: int64(len(m)), CombinedSquashfsSHA256: fp},
			"rootfs.squashfs": {FileType: FileSquashfs, Path: "r", SHA256: sum(root), Size: int64(len(root))},
		}}
	}
	native, foreign := DebianArch(localArch()), "s390x"
	if native == foreign {
		foreign = "riscv64"
	}
	products := map[string]Product{
		"deb:native": {Aliases: "debian/12,debian", Arch: native, OS: "Debian", Release: "bookworm",
			Versions: map[string]Version{"20240101_00:00": version(meta, "m", combined), "20240201_00:00": version(newMeta, "m2", newer)}},
		"deb:foreign": {Aliases: "debian/12", Arch: foreign, OS: "Debian", Release: "bookworm",
			Versions: map[string]Version{"20240301_00:00": version(meta, "m", strings.Repeat("ab", 32))}},
	}
	srv, cert := streamsServer(t, files, products)
	src, err := testRegistry.Open("simplestreams", srv.URL, Options{Certificate: cert})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The short alias is this host's architecture, newest version.
	f, err := src.Find(ctx, "debian/12", "")
	if err != nil || f.Fingerprint != newer {
		t.Fatalf("debian/12: %v %s (want the newest native, %s)", err, f.Fingerprint, newer)
	}
	// With the architecture, another one.
	if f, err := src.Find(ctx, "debian/12/"+foreign, ""); err != nil || f.Fingerprint != strings.Repeat("ab", 32) {
		t.Fatalf("debian/12/%s: %v %s", foreign, err, f.Fingerprint)
	}
	// A fingerprint prefix.
	if f, err := src.Find(ctx, combined[:12], ""); err != nil || f.Fingerprint != combined {
		t.Fatalf("prefix: %v %s", err, f.Fingerprint)
	}
	if _, err := src.Find(ctx, "ubuntu", ""); !errors.Is(err, apierr.ErrNotFound) {
		t.Fatalf("a missing alias: %v", err)
	}
	if _, err := src.Find(ctx, "debian", "virtual-machine"); !errors.Is(err, apierr.ErrNotFound) {
		t.Fatalf("a VM: %v", err)
	}
	f, _ = src.Find(ctx, "debian/12", "")
	files2, err := src.Fetch(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	m, err1 := io.ReadAll(files2.Meta)
	r, err2 := io.ReadAll(files2.Rootfs)
	_ = files2.Close()
	if err1 != nil || err2 != nil || string(m) != string(newMeta) || string(r) != string(root) {
		t.Fatalf("fetched %q %q: %v %v", m, r, err1, err2)
	}

	// A file that is not what the index says fails at its end.
	files["r"] = []byte("rootfs squashfX")
	files2, _ = src.Fetch(ctx, f)
	_, _ = io.ReadAll(files2.Meta)
	if _, err := io.ReadAll(files2.Rootfs); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("a changed file: %v", err)
	}
	files["r"] = []byte("rootfs squash")
	files2, _ = src.Fetch(ctx, f)
	_, _ = io.ReadAll(files2.Meta)
	if _, err := io.ReadAll(files2.Rootfs); err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a short file: %v", err)
	}
	files["r"] = []byte("rootfs squashfs and more")
	files2, _ = src.Fetch(ctx, f)
	_, _ = io.ReadAll(files2.Meta)
	if _, err := io.ReadAll(files2.Rootfs); err == nil || !strings.Contains(err.Error(), "larger") {
		t.Fatalf("a long file: %v", err)
	}
}

func TestSimplestreamsPathsStayOnTheServer(t *testing.T) {
	s := &streamsSource{}
	var err error
	if s.base, err = s.base.Parse("https://example.invalid/mirror/"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"images/a/b", "streams/v1/images.json"} {
		if u, err := s.resolve(p); err != nil || !strings.HasPrefix(u.String(), "https://example.invalid/mirror/") {
			t.Fatalf("%s: %v %v", p, u, err)
		}
	}
	for _, p := range []string{"/etc/passwd", "../up", "a/../../b", "https://other.invalid/x", "//other.invalid/x"} {
		if _, err := s.resolve(p); err == nil {
			t.Fatalf("%s was taken as a path on the server", p)
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	srv, _ := streamsServer(t, nil, nil)
	src, err := testRegistry.Open("simplestreams", srv.URL, Options{Certificate: "not a certificate"})
	if err == nil {
		_, err = src.Find(context.Background(), "x", "")
	}
	if err == nil {
		t.Fatal("a malformed pinned certificate was accepted")
	}
	if _, err := testRegistry.Open("ftp", srv.URL, Options{}); err == nil {
		t.Fatal("an unknown protocol opened")
	}
	if _, err := testRegistry.Open("lxd", "http://plain.invalid", Options{}); err == nil {
		t.Fatal("an http:// server opened")
	}
}
