package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lodge-project/lodge/internal/storage"
	dirdriver "github.com/lodge-project/lodge/internal/storage/dir"
	"github.com/lodge-project/lodge/internal/storage/storagetest"
	"github.com/lodge-project/lodge/internal/store"
)

func newTestService(t *testing.T) (*Service, storage.Driver) {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "lodge.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	pool, err := dirdriver.New(filepath.Join(dir, "pool"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = storagetest.UnmountBelow(dir) })
	pools := storage.NewPools(db, dir, storage.Registry{"dir": storage.Plain(func(string) (storage.Driver, error) { return pool, nil })})
	s, err := NewService(db, pools, filepath.Join(dir, "images"), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	return s, pool
}

func fingerprint(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Cached images go when unused for longer than the expiry; others stay.
func TestExpireCached(t *testing.T) {
	s, pool := newTestService(t)
	ctx := context.Background()
	data := tarball(t)
	cached, err := s.Import(ctx, Upload{Unified: bytes.NewReader(data), Cached: true})
	if err != nil {
		t.Fatal(err)
	}
	kept, err := s.Import(ctx, Upload{Unified: bytes.NewReader(append(append([]byte{}, data...), make([]byte, 1024)...))})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if gone, err := s.ExpireCached(now.Add(9*24*time.Hour), 10*24*time.Hour); err != nil || len(gone) != 0 {
		t.Fatalf("before the expiry: %v %v", gone, err)
	}
	if err := s.Touch("", cached.Fingerprint); err != nil {
		t.Fatal(err)
	}
	if img, _, _ := s.Get("", cached.Fingerprint); img.LastUsedAt.Before(now) {
		t.Fatalf("a use is not recorded: %v", img.LastUsedAt)
	}
	gone, err := s.ExpireCached(now.Add(30*24*time.Hour), 10*24*time.Hour)
	if err != nil || len(gone) != 1 || gone[0] != cached.Fingerprint {
		t.Fatalf("after the expiry: %v %v", gone, err)
	}
	if pool.HasImageVolume(cached.Fingerprint) {
		t.Fatal("the expired image's volume stayed")
	}
	if _, _, err := s.Get("", kept.Fingerprint); err != nil {
		t.Fatalf("an image not cached went: %v", err)
	}
}

// A download with its fingerprint known unpacks as it arrives; one that
// is not the image announced leaves nothing. A deferred one is not
// unpacked until asked for.
func TestStreamingAndDeferredImports(t *testing.T) {
	s, pool := newTestService(t)
	ctx := context.Background()
	data := tarball(t)
	fp := fingerprint(data)
	if _, err := s.Import(ctx, Upload{Unified: bytes.NewReader(data), Expect: strings.Repeat("0", 64)}); err == nil || !strings.Contains(err.Error(), "tampered") {
		t.Fatalf("a download that is not the image announced: %v", err)
	}
	if pool.HasImageVolume(strings.Repeat("0", 64)) {
		t.Fatal("the refused download left its volume")
	}
	img, err := s.Import(ctx, Upload{Unified: bytes.NewReader(data), Expect: fp, Cached: true})
	if err != nil || img.Fingerprint != fp || !img.Cached || img.Properties["os"] != "test" {
		t.Fatalf("a streamed import: %+v %v", img, err)
	}
	if !pool.HasImageVolume(fp) {
		t.Fatal("the streamed image is not unpacked")
	}
	if err := s.Delete("", fp); err != nil {
		t.Fatal(err)
	}
	img, err = s.Import(ctx, Upload{Unified: bytes.NewReader(data), Expect: fp, Defer: true})
	if err != nil || img.Architecture != "x86_64" {
		t.Fatalf("a deferred import: %+v %v", img, err)
	}
	if pool.HasImageVolume(fp) {
		t.Fatal("a deferred import was unpacked")
	}
	if err := s.EnsureVolume(ctx, pool, fp); err != nil || !pool.HasImageVolume(fp) {
		t.Fatalf("the first use of a deferred image: %v", err)
	}
}

// failingPool refuses to make image volumes without unpacking anything.
type failingPool struct{ storage.Driver }

func (failingPool) CreateImageVolume(string, func(dir string) error) error {
	return errors.New("no room on this pool")
}

// A streamed import whose pool fails before it unpacks stops the
// download and says why; it does not wait for a reader that never comes.
func TestStreamingImportWhenThePoolFailsFirst(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "lodge.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	inner, err := dirdriver.New(filepath.Join(dir, "pool"))
	if err != nil {
		t.Fatal(err)
	}
	pools := storage.NewPools(db, dir, storage.Registry{"dir": storage.Plain(func(string) (storage.Driver, error) { return failingPool{inner}, nil })})
	s, err := NewService(db, pools, filepath.Join(dir, "images"), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	data := tarball(t)
	done := make(chan error, 1)
	go func() {
		_, err := s.Import(context.Background(), Upload{Unified: bytes.NewReader(data), Expect: fingerprint(data)})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "no room") {
			t.Fatalf("the import: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the import hung on a pool that never unpacked")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "images", ".upload-*")); len(left) != 0 {
		t.Fatalf("the stopped download left %v", left)
	}
}
