package dir_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/storage/dir"
	"github.com/lodge-project/lodge/internal/storage/storagetest"
)

// xfsMount makes a reflink-capable XFS on a loop file for the test,
// mounted with the options given (prjquota).
func xfsMount(t *testing.T, options ...string) string {
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
	if out, err := exec.Command("mount", "-o", strings.Join(append([]string{"loop"}, options...), ","), img, mnt).CombinedOutput(); err != nil && len(options) > 0 {
		// These machines' kernel is built without CONFIG_XFS_QUOTA.
		t.Skipf("XFS does not mount with %v here (a kernel without XFS quota support?): %v %s", options, err, out)
	} else if err != nil {
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
	d.WaitImageWriteback() // its end may free preallocated space
	unix.Sync()
	before := free()
	if err := d.CreateVolumeFromImage(context.Background(), vol("c1"), "big", nil); err != nil {
		t.Fatal(err)
	}
	unix.Sync()
	// Signed: XFS frees removed inodes' blocks in the background, so
	// the launch may see a few KiB come back.
	if used := int64(before) - int64(free()); used > 8<<20 {
		t.Fatalf("the launch used %d MiB: not a reflink", used>>20)
	}
}

// TestSizesOnXFSProjectQuotas: on XFS with prjquota a dir pool enforces
// sizes, on layered and flat instance volumes and on custom volumes; on a
// filesystem without project quotas it says it cannot.
func TestSizesOnXFSProjectQuotas(t *testing.T) {
	mnt := xfsMount(t, "prjquota")
	for name, open := range map[string]func(string) (*dir.Driver, error){"layered": dir.New, "flat": dir.NewFlat} {
		t.Run(name, func(t *testing.T) {
			d := newPool(t, open, filepath.Join(mnt, name))
			if !d.Capabilities().Quotas {
				t.Fatal("no quotas on XFS with prjquota")
			}
			if err := d.CreateImageVolume("img", func(dir string) error { return os.MkdirAll(filepath.Join(dir, "rootfs"), 0o755) }); err != nil {
				t.Fatal(err)
			}
			custom := storage.Volume{Pool: "test", Project: storage.DefaultProject, Type: storage.TypeCustom, Name: "data", Content: storage.ContentFilesystem}
			if err := d.CreateVolumeFromImage(context.Background(), vol("c1"), "img", nil); err != nil {
				t.Fatal(err)
			}
			if err := d.CreateEmptyVolume(custom); err != nil {
				t.Fatal(err)
			}
			for _, v := range []storage.Volume{vol("c1"), custom} {
				dirOf := d.VolumePath(v)
				if v.Type != storage.TypeCustom {
					dirOf = filepath.Join(dirOf, "rootfs")
				}
				if err := d.SetVolumeSize(v, 20<<20); err != nil {
					t.Fatal(err)
				}
				if err := storagetest.WriteZeros(filepath.Join(dirOf, "big"), 40<<20); err == nil {
					t.Fatalf("%s: wrote 40MiB into 20MiB", v.Name)
				}
				_ = os.Remove(filepath.Join(dirOf, "big"))
				if err := storagetest.WriteZeros(filepath.Join(dirOf, "small"), 8<<20); err != nil {
					t.Fatalf("%s: 8MiB in 20MiB: %v", v.Name, err)
				}
				if used, err := d.VolumeUsage(v); err != nil || used < 8<<20 || used > 12<<20 {
					t.Fatalf("%s: usage %d (%v)", v.Name, used, err)
				}
				if err := d.SetVolumeSize(v, 4<<20); err == nil {
					t.Fatalf("%s: a size below what it holds was set", v.Name)
				}
				if err := d.SetVolumeSize(v, 0); err != nil {
					t.Fatal(err)
				}
				if err := storagetest.WriteZeros(filepath.Join(dirOf, "big"), 40<<20); err != nil {
					t.Fatalf("%s: after lifting the size: %v", v.Name, err)
				}
			}
			// A rebuilt custom volume keeps its size: the new tree is
			// counted as the old one was (and may link its files).
			if err := d.SetVolumeSize(custom, 60<<20); err != nil {
				t.Fatal(err)
			}
			ws, err := d.BeginRebuild(custom)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Link(filepath.Join(ws, "old", "small"), filepath.Join(ws, "new", "small")); err != nil {
				t.Fatalf("link across the rebuild: %v", err)
			}
			if err := storagetest.WriteZeros(filepath.Join(ws, "new", "big"), 80<<20); err == nil {
				t.Fatal("the rebuild's new tree is not held to the volume's size")
			}
			_ = os.Remove(filepath.Join(ws, "new", "big"))
			if err := d.FinishRebuild(custom); err != nil {
				t.Fatal(err)
			}
			if err := d.EndRebuild(custom); err != nil {
				t.Fatal(err)
			}
			if err := storagetest.WriteZeros(filepath.Join(d.VolumePath(custom), "big2"), 80<<20); err == nil {
				t.Fatal("the rebuilt volume lost its size")
			}
		})
	}
}

// TestNoSizesWithoutProjectQuotas: a dir pool whose filesystem has no
// project quotas reports none, and refuses a size.
func TestNoSizesWithoutProjectQuotas(t *testing.T) {
	d := newPool(t, dir.New, "")
	if d.Capabilities().Quotas {
		t.Skip("the test directory's filesystem has project quotas")
	}
	if err := d.CreateEmptyVolume(vol("c1")); err != nil {
		t.Fatal(err)
	}
	if err := storage.SetVolumeSize(d, vol("c1"), "1GiB"); err == nil || !strings.Contains(err.Error(), "does not enforce sizes") {
		t.Fatalf("a size on a pool without quotas: %v", err)
	}
	if err := storage.SetVolumeSize(d, vol("c1"), ""); err != nil {
		t.Fatalf("no size on a pool without quotas: %v", err)
	}
}
