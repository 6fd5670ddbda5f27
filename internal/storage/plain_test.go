package storage_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/storage/copytree"
	"github.com/lodge-project/lodge/internal/storage/storagetest"
	"github.com/lodge-project/lodge/internal/store"
)

// TestATestOnlyDriverIsOnePackageAndOneLine: a driver written against the
// interface alone (plain full copies, a layout unlike dir's) passes the
// conformance suite, and one registry line gives the host pools of it.
func TestATestOnlyDriverIsOnePackageAndOneLine(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the storage conformance suite changes file ownership: run as root")
	}
	storagetest.Run(t, storagetest.Subject{
		New:     func(t *testing.T) storage.Driver { return newPlain(t.TempDir()) },
		Crashes: plainCrashes{},
	})

	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "lodge.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	drivers := storage.Drivers()
	drivers["plain"] = func(path string) (storage.Driver, error) { return newPlain(path), nil }
	pools := storage.NewPools(db, dir, drivers)
	if err := pools.Create(storage.PoolRecord{Name: "p", Driver: "plain"}); err != nil {
		t.Fatal(err)
	}
	d, err := pools.Get("p")
	if err != nil || d.Name() != "plain" {
		t.Fatalf("the new pool: %v %v", d, err)
	}
}

// plain keeps each volume as a directory of its own: images in img/,
// instances in vol/, snapshots in snap/<instance>/, a prepared restore in
// staging/ and a volume being swapped out in aside/. Every copy is full.
type plain struct{ root string }

func newPlain(root string) *plain {
	for _, sub := range []string{"img", "vol", "snap", "staging", "aside"} {
		_ = os.MkdirAll(filepath.Join(root, sub), 0o711)
	}
	return &plain{root: root}
}

func (p *plain) Name() string                        { return "plain" }
func (p *plain) ImageVolumePath(fp string) string    { return filepath.Join(p.root, "img", fp) }
func (p *plain) InstancePath(name string) string     { return filepath.Join(p.root, "vol", name) }
func (p *plain) snapPath(name, snap string) string   { return filepath.Join(p.root, "snap", name, snap) }
func (p *plain) staging(name string) string          { return filepath.Join(p.root, "staging", name) }
func (p *plain) aside(name string) string            { return filepath.Join(p.root, "aside", name) }
func (p *plain) HasImageVolume(fp string) bool       { return there(p.ImageVolumePath(fp)) }
func (p *plain) ImageVolumeNames() ([]string, error) { return names(filepath.Join(p.root, "img")) }
func (p *plain) InstanceNames() ([]string, error)    { return names(filepath.Join(p.root, "vol")) }
func (p *plain) MountInstance(name string) error     { return exists(p.InstancePath(name)) }
func (p *plain) UnmountInstance(string) error        { return nil }
func (p *plain) DeleteImageVolume(fp string) error   { return os.RemoveAll(p.ImageVolumePath(fp)) }
func (p *plain) CancelRestore(name string) error     { return os.RemoveAll(p.staging(name)) }

func (p *plain) SnapshotNames(name string) ([]string, error) {
	return names(filepath.Join(p.root, "snap", name))
}

// build fills dst through a temporary directory beside it, so that dst
// exists whole or not at all.
func build(dst string, fill func(tmp string) error) error {
	if there(dst) {
		return fmt.Errorf("%s exists", filepath.Base(dst))
	}
	tmp := filepath.Join(filepath.Dir(dst), ".tmp-"+filepath.Base(dst))
	_ = os.RemoveAll(tmp)
	if err := fill(tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

func (p *plain) CreateImageVolume(fp string, unpack func(dir string) error) error {
	return build(p.ImageVolumePath(fp), func(tmp string) error {
		if err := os.Mkdir(tmp, 0o711); err != nil {
			return err
		}
		return unpack(tmp)
	})
}

func (p *plain) CreateInstanceFromImage(ctx context.Context, name, fp string, m *idmap.Map) error {
	if !p.HasImageVolume(fp) {
		return fmt.Errorf("image %s has no volume", fp)
	}
	return build(p.InstancePath(name), func(tmp string) error {
		return copytree.Copy(ctx, p.ImageVolumePath(fp), tmp, copytree.Options{To: m})
	})
}

func (p *plain) CreateEmptyInstance(name string) error {
	return build(p.InstancePath(name), func(tmp string) error { return os.MkdirAll(filepath.Join(tmp, "rootfs"), 0o755) })
}

func (p *plain) DeleteInstance(name string) error {
	return errors.Join(os.RemoveAll(p.InstancePath(name)), os.RemoveAll(filepath.Join(p.root, "snap", name)))
}

func (p *plain) RemapInstance(name string, from, to *idmap.Map) error {
	return idmap.Reshift(filepath.Join(p.InstancePath(name), "rootfs"), from, to)
}

func (p *plain) RenameInstance(oldName, newName string) error {
	if there(p.InstancePath(newName)) {
		return fmt.Errorf("%s exists", newName)
	}
	if err := os.Rename(p.InstancePath(oldName), p.InstancePath(newName)); err != nil {
		return err
	}
	if there(filepath.Join(p.root, "snap", oldName)) {
		return os.Rename(filepath.Join(p.root, "snap", oldName), filepath.Join(p.root, "snap", newName))
	}
	return nil
}

func (p *plain) UndoRename(oldName, newName string) error {
	for _, dir := range []string{"vol", "snap"} {
		from, to := filepath.Join(p.root, dir, newName), filepath.Join(p.root, dir, oldName)
		if there(from) && !there(to) {
			if err := os.Rename(from, to); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *plain) CopyInstance(ctx context.Context, src, srcSnap, dst string, withSnapshots bool) (err error) {
	from := p.InstancePath(src)
	if srcSnap != "" {
		from = p.snapPath(src, srcSnap)
	}
	if err := build(p.InstancePath(dst), func(tmp string) error { return copytree.Copy(ctx, from, tmp, copytree.Options{}) }); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = p.DeleteInstance(dst)
		}
	}()
	if !withSnapshots {
		return nil
	}
	snaps, err := p.SnapshotNames(src)
	if err != nil {
		return err
	}
	for _, s := range snaps {
		if err := os.MkdirAll(filepath.Join(p.root, "snap", dst), 0o711); err != nil {
			return err
		}
		if err := build(p.snapPath(dst, s), func(tmp string) error { return copytree.Copy(ctx, p.snapPath(src, s), tmp, copytree.Options{}) }); err != nil {
			return err
		}
	}
	return nil
}

func (p *plain) CreateSnapshot(ctx context.Context, name, snap string) error {
	if err := os.MkdirAll(filepath.Join(p.root, "snap", name), 0o711); err != nil {
		return err
	}
	return build(p.snapPath(name, snap), func(tmp string) error {
		return copytree.Copy(ctx, p.InstancePath(name), tmp, copytree.Options{})
	})
}

func (p *plain) DeleteSnapshot(name, snap string) error { return os.RemoveAll(p.snapPath(name, snap)) }

func (p *plain) RenameSnapshot(name, oldSnap, newSnap string) error {
	if there(p.snapPath(name, newSnap)) {
		return fmt.Errorf("snapshot %s exists", newSnap)
	}
	return os.Rename(p.snapPath(name, oldSnap), p.snapPath(name, newSnap))
}

func (p *plain) PrepareRestore(ctx context.Context, name, snap string) error {
	_ = os.RemoveAll(p.staging(name))
	return build(p.staging(name), func(tmp string) error {
		return copytree.Copy(ctx, p.snapPath(name, snap), tmp, copytree.Options{})
	})
}

// FinishRestore: volume aside, staging in, aside gone; from any point.
func (p *plain) FinishRestore(name string) error {
	if there(p.staging(name)) {
		if there(p.InstancePath(name)) {
			_ = os.RemoveAll(p.aside(name))
			if err := os.Rename(p.InstancePath(name), p.aside(name)); err != nil {
				return err
			}
		}
		if err := os.Rename(p.staging(name), p.InstancePath(name)); err != nil {
			return err
		}
	}
	return os.RemoveAll(p.aside(name))
}

func (p *plain) RepairInstance(name string) (string, error) {
	switch {
	case !there(p.InstancePath(name)) && there(p.aside(name)):
		_ = os.RemoveAll(p.staging(name))
		return "undid an interrupted snapshot restore", os.Rename(p.aside(name), p.InstancePath(name))
	case !there(p.InstancePath(name)) && there(p.staging(name)):
		return "kept the only copy of a volume, left by a snapshot restore", os.Rename(p.staging(name), p.InstancePath(name))
	}
	return "", nil
}

type plainCrashes struct{}

func (plainCrashes) RestoreMovedAside(d storage.Driver, name string) error {
	p := d.(*plain)
	return os.Rename(p.InstancePath(name), p.aside(name))
}

func (plainCrashes) RenameMovedVolume(d storage.Driver, oldName, newName string) error {
	return os.Rename(d.InstancePath(oldName), d.InstancePath(newName))
}

func there(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func exists(path string) error {
	_, err := os.Stat(path)
	return err
}

// names lists a directory's entries but the temporary ones.
func names(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	var out []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".tmp-") {
			out = append(out, e.Name())
		}
	}
	return out, err
}
