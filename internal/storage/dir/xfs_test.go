package dir_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/storage/dir"
	"github.com/lodge-project/lodge/internal/storage/storagetest"
)

// xfsMount makes a reflink-capable XFS on a loop file for the test.
func xfsMount(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (loop mounts)")
	}
	if _, err := exec.LookPath("mkfs.xfs"); err != nil {
		t.Skip("mkfs.xfs is missing: run scripts/install-deps.sh")
	}
	tmp := t.TempDir()
	img, mnt := filepath.Join(tmp, "xfs.img"), filepath.Join(tmp, "mnt")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if out, err := exec.Command("mkfs.xfs", "-q", "-f", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.xfs: %v %s", err, out)
	}
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	t.Cleanup(func() {
		_ = storagetest.UnmountBelow(mnt)
		_ = exec.Command("umount", mnt).Run()
	})
	return mnt
}

// TestConformanceOnXFS runs the suite where copies are reflinks.
func TestConformanceOnXFS(t *testing.T) {
	mnt := xfsMount(t)
	n := 0
	for name, open := range map[string]func(string) (*dir.Driver, error){"layered": dir.New, "flat": dir.NewFlat} {
		t.Run(name, func(t *testing.T) {
			newDriver := func(t *testing.T) storage.Driver {
				n++
				return newPool(t, open, filepath.Join(mnt, "pool", fmt.Sprint(n)))
			}
			storagetest.Run(t, storagetest.Subject{New: newDriver, Crashes: crashes{}})
		})
	}
}

// TestFlatLaunchIsAReflink: on XFS a 64 MiB image file costs (almost) no
// new space when a flat volume is made from it.
func TestFlatLaunchIsAReflink(t *testing.T) {
	mnt := xfsMount(t)
	d := newPool(t, dir.NewFlat, filepath.Join(mnt, "pool"))
	err := d.CreateImageVolume("big", func(dir string) error {
		if err := os.MkdirAll(filepath.Join(dir, "rootfs"), 0o755); err != nil {
			return err
		}
		data := make([]byte, 64<<20)
		for i := range data {
			data[i] = byte(i)
		}
		return os.WriteFile(filepath.Join(dir, "rootfs", "blob"), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	free := func() uint64 {
		var st unix.Statfs_t
		_ = unix.Statfs(mnt, &st)
		return st.Bavail * uint64(st.Bsize)
	}
	unix.Sync()
	before := free()
	if err := d.CreateVolumeFromImage(context.Background(), vol("c1"), "big", nil); err != nil {
		t.Fatal(err)
	}
	unix.Sync()
	if used := before - free(); used > 8<<20 {
		t.Fatalf("the launch used %d MiB: not a reflink", used>>20)
	}
}
