package btrfs_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/storage/btrfs"
	"github.com/lodge-project/lodge/internal/storage/storagetest"
)

// scratch mounts a btrfs filesystem on a loop file for the test.
func scratch(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (loop mounts, subvolume ioctls)")
	}
	if _, err := exec.LookPath("mkfs.btrfs"); err != nil {
		t.Skip("mkfs.btrfs is missing: run scripts/install-deps.sh")
	}
	tmp := t.TempDir()
	img, mnt := filepath.Join(tmp, "btrfs.img"), filepath.Join(tmp, "mnt")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if out, err := exec.Command("mkfs.btrfs", "-q", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.btrfs: %v %s", err, out)
	}
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "loop,user_subvol_rm_allowed", img, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	t.Cleanup(func() {
		_ = storagetest.UnmountBelow(mnt)
		_ = exec.Command("umount", mnt).Run()
	})
	return mnt
}

func TestConformance(t *testing.T) {
	mnt := scratch(t)
	n := 0
	storagetest.Run(t, storagetest.Subject{
		New: func(t *testing.T) storage.Driver {
			n++
			d, err := btrfs.New(filepath.Join(mnt, fmt.Sprint("pool", n)))
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
		Crashes: crashes{},
	})
}

// crashes leaves a btrfs pool as a crash at its steps would.
type crashes struct{}

func (crashes) RestoreMovedAside(d storage.Driver, v storage.Volume) error {
	return os.Rename(d.VolumePath(v), d.VolumePath(v)+".old")
}

func (crashes) HalfMade(d storage.Driver, v storage.Volume) error {
	return btrfs.HalfCopiedSnapshots(d.(*btrfs.Driver), v)
}

func (crashes) RenameMovedVolume(d storage.Driver, v storage.Volume, newName string) error {
	return os.Rename(d.VolumePath(v), d.VolumePath(v.Renamed(newName)))
}
