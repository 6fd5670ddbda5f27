package durable

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A tree with what volumes hold — unreadable files, symlinks (dangling
// too), a fifo, nested directories — syncs without opening what it must
// not (a fifo would block, a symlink lead outside).
func TestTreeSyncsWhatAVolumeHolds(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "a", "b"), 0o755))
	must(os.WriteFile(filepath.Join(root, "a", "b", "file"), []byte("data"), 0o644))
	must(os.WriteFile(filepath.Join(root, "locked"), []byte("x"), 0o000))
	must(os.Symlink("/nonexistent", filepath.Join(root, "dangling")))
	must(os.Symlink("/dev/zero", filepath.Join(root, "outside")))
	must(syscall.Mkfifo(filepath.Join(root, "fifo"), 0o600))
	if err := Tree(root); err != nil {
		t.Fatalf("Tree: %v", err)
	}
	if err := Tree(filepath.Join(root, "missing")); err == nil {
		t.Fatal("Tree of a missing directory succeeded")
	}
	if err := Dir(root); err != nil {
		t.Fatalf("Dir: %v", err)
	}
	if err := Filesystem(root); err != nil {
		t.Fatalf("Filesystem: %v", err)
	}
}
