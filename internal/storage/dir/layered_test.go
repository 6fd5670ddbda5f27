package dir_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/storage/dir"
)

// TestLayeredCopiesNothing: a launch, a snapshot and a copy of an instance
// made from a 16 MiB image write none of the image's data, and what the
// instance changes lands in its upper layer on its own ids.
func TestLayeredCopiesNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (mounts)")
	}
	d := newPool(t, dir.New, "")
	err := d.CreateImageVolume("big", func(dir string) error {
		if err := os.MkdirAll(filepath.Join(dir, "rootfs", "etc"), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, "rootfs", "blob"), make([]byte, 16<<20), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	m := &idmap.Map{HostUID: 100000, HostGID: 100000, Size: idmap.Size}
	if err := d.CreateVolumeFromImage(context.Background(), vol("c1"), "big", m); err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(d.VolumePath(vol("c1")), "rootfs", "etc", "changed")
	if err := os.WriteFile(changed, []byte("y"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(changed, 100003, 100003); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateSnapshot(context.Background(), vol("c1"), "s0"); err != nil {
		t.Fatal(err)
	}
	if err := d.CopyVolume(context.Background(), vol("c1"), "", vol("c2"), true); err != nil {
		t.Fatal(err)
	}
	for _, upper := range []string{
		filepath.Join(d.VolumePath(vol("c1")), "upper"),
		filepath.Join(d.VolumePath(vol("c2")), "upper"),
	} {
		var size int64
		_ = filepath.Walk(upper, func(_ string, info os.FileInfo, err error) error {
			if err == nil && info.Mode().IsRegular() {
				size += info.Size()
			}
			return nil
		})
		if size != 1 {
			t.Fatalf("%s holds %d bytes, want only the 1 written", upper, size)
		}
	}
	st, err := os.Stat(filepath.Join(d.VolumePath(vol("c2")), "upper", "etc", "changed"))
	if err != nil {
		t.Fatal(err)
	}
	if uid := statUID(st); uid != 100003 {
		t.Fatalf("the copied change is owned by %d, want 100003", uid)
	}
	if data, err := os.ReadFile(filepath.Join(d.VolumePath(vol("c2")), "rootfs", "blob")); err != nil || len(data) != 16<<20 {
		t.Fatalf("the copy reads the image's blob: %d bytes, %v", len(data), err)
	}
}

func statUID(fi os.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Uid
	}
	return 0
}
