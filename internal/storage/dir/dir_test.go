package dir_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/storage/dir"
	"github.com/lodge-project/lodge/internal/storage/storagetest"
)

// newPool makes a pool on a fresh directory below parent (a temporary one
// when empty) whose mounts go when the test ends.
func newPool(t *testing.T, open func(string) (*dir.Driver, error), root string) *dir.Driver {
	t.Helper()
	if root == "" {
		root = t.TempDir()
	}
	d, err := open(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = storagetest.UnmountBelow(root) })
	return d
}

func TestConformance(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the storage conformance suite changes file ownership: run as root")
	}
	for name, open := range map[string]func(string) (*dir.Driver, error){"layered": dir.New, "flat": dir.NewFlat} {
		t.Run(name, func(t *testing.T) {
			storagetest.Run(t, storagetest.Subject{New: func(t *testing.T) storage.Driver { return newPool(t, open, "") }, Crashes: crashes{}})
		})
	}
}

// crashes leaves a dir pool as a crash at its steps would (see
// FinishRestore and RenameVolume for the steps).
type crashes struct{}

func (crashes) RestoreMovedAside(d storage.Driver, v storage.Volume) error {
	vol := d.VolumePath(v)
	if err := storagetest.UnmountBelow(vol); err != nil {
		return err
	}
	return os.Rename(vol, vol+".old")
}

func (crashes) HalfMade(d storage.Driver, v storage.Volume) error {
	return os.MkdirAll(filepath.Join(d.VolumePath(v)+".partial", "rootfs"), 0o755)
}

func (crashes) RenameMovedVolume(d storage.Driver, v storage.Volume, newName string) error {
	if err := storagetest.UnmountBelow(d.VolumePath(v)); err != nil {
		return err
	}
	return os.Rename(d.VolumePath(v), d.VolumePath(v.Renamed(newName)))
}

// vol is a container volume of the default project.
func vol(name string) storage.Volume {
	return storage.InstanceVolume("test", storage.DefaultProject, "container", name)
}

// A volume may not take a name the driver's start-up cleanup would take
// for a leftover of its own.
func TestLeftoverNamesRefused(t *testing.T) {
	d := newPool(t, dir.New, "")
	for _, name := range []string{"x.partial", "x.restore", "x.old"} {
		v := storage.Volume{Pool: "test", Project: storage.DefaultProject, Type: storage.TypeCustom, Name: name, Content: storage.ContentFilesystem}
		if err := d.CreateEmptyVolume(v); err == nil {
			t.Fatalf("a custom volume called %s was made", name)
		}
	}
}
