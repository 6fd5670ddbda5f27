package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
)

// tarball is a unified image: metadata.yaml and an empty rootfs/.
func tarball(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	md := "architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  os: test\n"
	_ = tw.WriteHeader(&tar.Header{Name: "metadata.yaml", Mode: 0o644, Size: int64(len(md)), Typeflag: tar.TypeReg})
	_, _ = tw.Write([]byte(md))
	_ = tw.WriteHeader(&tar.Header{Name: "rootfs/", Mode: 0o755, Typeflag: tar.TypeDir})
	_ = tw.Close()
	_ = zw.Close()
	return buf.Bytes()
}

// Images and aliases are per project: one image imported into two
// projects is two records over one set of files, which go with the last.
func TestImagesByProject(t *testing.T) {
	s, pool := newTestService(t)
	ctx := context.Background()
	data := tarball(t)
	img, err := s.Import(ctx, Upload{Unified: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, Upload{Unified: bytes.NewReader(data)}); apierr.Status(err) != http.StatusConflict {
		t.Fatalf("a second import into the default project: %v", err)
	}
	if _, _, err := s.Get("web", img.Fingerprint); apierr.Status(err) != http.StatusNotFound {
		t.Fatalf("project web sees the default project's image: %v", err)
	}
	if _, err := s.Import(ctx, Upload{Unified: bytes.NewReader(data), Project: "web"}); err != nil {
		t.Fatalf("the same image into project web: %v", err)
	}
	for _, proj := range []string{"", "web"} {
		if err := s.CreateAlias(proj, api.ImageAliasesPost{Name: "test", Target: img.Fingerprint}); err != nil {
			t.Fatalf("alias test in %q: %v", proj, err)
		}
		if fp, err := s.Resolve(proj, "test"); err != nil || fp != img.Fingerprint {
			t.Fatalf("alias test in %q: %s %v", proj, fp, err)
		}
		if list, _ := s.List(proj); len(list) != 1 || len(list[0].Aliases) != 1 {
			t.Fatalf("images of %q: %+v", proj, list)
		}
	}
	if err := s.Delete("", img.Fingerprint); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.dir, img.Fingerprint)); err != nil {
		t.Fatalf("the files went while project web holds the image: %v", err)
	}
	if _, err := s.Resolve("", "test"); err == nil {
		t.Fatal("the default project's alias outlived its image")
	}
	if fp, err := s.Resolve("web", "test"); err != nil || fp != img.Fingerprint {
		t.Fatalf("web's alias after the default project's delete: %v", err)
	}
	if err := s.Delete("web", img.Fingerprint); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.dir, img.Fingerprint)); !os.IsNotExist(err) {
		t.Fatalf("the files stayed after the last project's delete: %v", err)
	}
	if pool.HasImageVolume(img.Fingerprint) {
		t.Fatal("the image volume stayed after the last project's delete")
	}
}
