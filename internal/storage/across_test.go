package storage_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/lodge-project/lodge/internal/storage"
	dirdriver "github.com/lodge-project/lodge/internal/storage/dir"
	"github.com/lodge-project/lodge/internal/storage/storagetest"
)

// CopyAcross carries a volume and its snapshots, in order, between pools
// of different drivers (layered dir to the test-only plain driver), and a
// failure leaves nothing on the target.
func TestCopyAcross(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (overlay mounts)")
	}
	root := t.TempDir()
	t.Cleanup(func() { _ = storagetest.UnmountBelow(root) })
	from, err := dirdriver.New(filepath.Join(root, "dir"))
	if err != nil {
		t.Fatal(err)
	}
	to := newPlain(filepath.Join(root, "plain"))
	ctx := context.Background()
	err = from.CreateImageVolume("img", func(dir string) error {
		return os.MkdirAll(filepath.Join(dir, "rootfs", "etc"), 0o755)
	})
	if err != nil {
		t.Fatal(err)
	}
	src := storage.InstanceVolume("dir", storage.DefaultProject, "container", "c1")
	if err := from.CreateVolumeFromImage(ctx, src, "img", nil); err != nil {
		t.Fatal(err)
	}
	state := func(d storage.Driver, v storage.Volume) string {
		return filepath.Join(d.VolumePath(v), "rootfs", "etc", "state")
	}
	for i, content := range []string{"one\n", "two\n", "three\n"} {
		if err := os.WriteFile(state(from, src), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			if err := from.CreateSnapshot(ctx, src, []string{"s0", "s1"}[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	dst := storage.InstanceVolume("plain", storage.DefaultProject, "container", "c1")
	if err := storage.CopyAcross(ctx, from, src, "", []string{"s0", "s1"}, to, dst); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(state(to, dst)); string(b) != "three\n" {
		t.Fatalf("the copy holds %q", b)
	}
	for snap, want := range map[string]string{"s0": "one\n", "s1": "two\n"} {
		err := to.ViewSnapshot(ctx, dst, snap, func(dir string) error {
			if b, _ := os.ReadFile(filepath.Join(dir, "rootfs", "etc", "state")); string(b) != want {
				t.Fatalf("snapshot %s of the copy holds %q", snap, b)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// A copy of a missing snapshot fails and leaves no volume behind.
	other := storage.InstanceVolume("plain", storage.DefaultProject, "container", "c2")
	if err := storage.CopyAcross(ctx, from, src, "", []string{"nope"}, to, other); err == nil {
		t.Fatal("a copy with a missing snapshot succeeded")
	}
	if names, _ := to.VolumeNames(storage.TypeContainer); len(names) != 1 {
		t.Fatalf("volumes on the target after a failed copy: %v", names)
	}
}
