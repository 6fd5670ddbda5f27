package image

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/lodge-project/lodge/api"
)

// A copy's files are marked until written back: the first use writes them
// back (before any volume is made of them); after a crash in the same
// boot start-up writes them back; after a host crash it checks them, and
// an image whose file lost data is gone, with its aliases.
func TestCopiedImageFilesWrittenBackLater(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	data := tarball(t)
	fp := fingerprint(data)
	copyIn := func(s *Service) {
		t.Helper()
		if _, err := s.Import(ctx, Upload{Unified: bytes.NewReader(data), Expect: fp, Defer: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(s.unsyncedFileMark(fp)); err != nil {
			t.Fatalf("a copied image's files are not marked: %v", err)
		}
	}

	t.Run("first use", func(t *testing.T) {
		s, pool := newTestService(t)
		copyIn(s)
		if err := s.EnsureVolume(ctx, pool, fp); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(s.unsyncedFileMark(fp)); !os.IsNotExist(err) {
			t.Fatalf("unpacked from files still marked: %v", err)
		}
	})
	t.Run("same boot", func(t *testing.T) {
		s, _ := newTestService(t)
		copyIn(s)
		s.RecoverFiles(quiet)
		if _, err := os.Stat(s.unsyncedFileMark(fp)); !os.IsNotExist(err) {
			t.Fatalf("start-up in the same boot left the mark: %v", err)
		}
		if _, _, err := s.Get("", fp); err != nil {
			t.Fatalf("the image after start-up: %v", err)
		}
	})
	t.Run("another boot, whole", func(t *testing.T) {
		s, _ := newTestService(t)
		t.Setenv("LODGE_BOOT_ID", "before")
		copyIn(s)
		t.Setenv("LODGE_BOOT_ID", "after")
		s.RecoverFiles(quiet)
		if _, _, err := s.Get("", fp); err != nil {
			t.Fatalf("a whole file was dropped: %v", err)
		}
		if _, err := os.Stat(s.unsyncedFileMark(fp)); !os.IsNotExist(err) {
			t.Fatalf("the checked file is still marked: %v", err)
		}
	})
	t.Run("another boot, lost data", func(t *testing.T) {
		s, _ := newTestService(t)
		t.Setenv("LODGE_BOOT_ID", "before")
		copyIn(s)
		if err := s.CreateAlias("", api.ImageAliasesPost{Name: "copied", Target: fp}); err != nil {
			t.Fatal(err)
		}
		// What a host crash can leave: the file's tail never written.
		if err := os.Truncate(filepath.Join(s.dir, fp), int64(len(data)/2)); err != nil {
			t.Fatal(err)
		}
		t.Setenv("LODGE_BOOT_ID", "after")
		s.RecoverFiles(quiet)
		if _, _, err := s.Get("", fp); err == nil {
			t.Fatal("an image whose file lost data is still there")
		}
		if _, _, err := s.GetAlias("", "copied"); err == nil {
			t.Fatal("the alias of the dropped image is still there")
		}
		left, _ := os.ReadDir(s.dir)
		for _, f := range left {
			t.Errorf("left in images/: %s", f.Name())
		}
	})
	// The background writeback, with no delay.
	t.Run("later", func(t *testing.T) {
		s, _ := newTestService(t)
		s.writeback.delay = 0
		if _, err := s.Import(ctx, Upload{Unified: bytes.NewReader(data), Expect: fp, Defer: true}); err != nil {
			t.Fatal(err)
		}
		s.WaitFileWriteback()
		if _, err := os.Stat(s.unsyncedFileMark(fp)); !os.IsNotExist(err) {
			t.Fatalf("the writeback left the mark: %v", err)
		}
	})
}
