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
	dirdriver "github.com/lodge-project/lodge/internal/storage/dir"
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
	drivers := storage.Registry{
		"dir":   storage.Plain(func(path string) (storage.Driver, error) { return dirdriver.New(path) }),
		"plain": storage.Plain(func(path string) (storage.Driver, error) { return newPlain(path), nil }),
	}
	pools := storage.NewPools(db, dir, drivers)
	if err := pools.Create(context.Background(), storage.PoolRecord{Name: "p", Driver: "plain"}); err != nil {
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

func (p *plain) Name() string                     { return "plain" }
func (p *plain) ImageVolumePath(fp string) string { return filepath.Join(p.root, "img", fp) }
func (p *plain) VolumePath(v storage.Volume) string {
	return filepath.Join(p.root, "vol", v.StorageName())
}
func (p *plain) snapPath(v storage.Volume, snap string) string {
	return filepath.Join(p.snapDir(v), snap)
}
func (p *plain) snapDir(v storage.Volume) string {
	return filepath.Join(p.root, "snap", v.StorageName())
}
func (p *plain) staging(v storage.Volume) string {
	return filepath.Join(p.root, "staging", v.StorageName())
}
func (p *plain) aside(v storage.Volume) string {
	return filepath.Join(p.root, "aside", v.StorageName())
}
func (p *plain) HasImageVolume(fp string) bool       { return there(p.ImageVolumePath(fp)) }
func (p *plain) ImageVolumeNames() ([]string, error) { return names(filepath.Join(p.root, "img")) }
func (p *plain) VolumeNames(typ storage.VolumeType) ([]string, error) {
	if typ != storage.TypeContainer {
		return nil, nil
	}
	return names(filepath.Join(p.root, "vol"))
}
func (p *plain) MountVolume(v storage.Volume) error   { return exists(p.VolumePath(v)) }
func (p *plain) UnmountVolume(storage.Volume) error   { return nil }
func (p *plain) DeleteImageVolume(fp string) error    { return os.RemoveAll(p.ImageVolumePath(fp)) }
func (p *plain) CancelRestore(v storage.Volume) error { return os.RemoveAll(p.staging(v)) }

func (p *plain) SnapshotNames(v storage.Volume) ([]string, error) { return names(p.snapDir(v)) }

func (p *plain) Capabilities() storage.Capabilities {
	return storage.Capabilities{VolumeTypes: []storage.VolumeType{storage.TypeContainer, storage.TypeImage}}
}

// check refuses what plain does not hold.
func check(v storage.Volume) error {
	if v.Type != storage.TypeContainer || v.Content == storage.ContentBlock {
		return fmt.Errorf("plain holds no %s %s volumes", v.Type, v.Content)
	}
	return nil
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

func (p *plain) CreateVolumeFromImage(ctx context.Context, v storage.Volume, fp string, m *idmap.Map) error {
	if !p.HasImageVolume(fp) {
		return fmt.Errorf("image %s has no volume", fp)
	}
	if err := check(v); err != nil {
		return err
	}
	return build(p.VolumePath(v), func(tmp string) error {
		return copytree.Copy(ctx, p.ImageVolumePath(fp), tmp, copytree.Options{To: m})
	})
}

func (p *plain) CreateEmptyVolume(v storage.Volume) error {
	if err := check(v); err != nil {
		return err
	}
	return build(p.VolumePath(v), func(tmp string) error { return os.MkdirAll(filepath.Join(tmp, "rootfs"), 0o755) })
}

func (p *plain) DeleteVolume(v storage.Volume) error {
	return errors.Join(os.RemoveAll(p.VolumePath(v)), os.RemoveAll(p.snapDir(v)))
}

func (p *plain) RemapVolume(v storage.Volume, from, to *idmap.Map) error {
	return idmap.Reshift(filepath.Join(p.VolumePath(v), "rootfs"), from, to)
}

func (p *plain) RenameVolume(v storage.Volume, newName string) error {
	to := v.Renamed(newName)
	if there(p.VolumePath(to)) {
		return fmt.Errorf("%s exists", newName)
	}
	if err := os.Rename(p.VolumePath(v), p.VolumePath(to)); err != nil {
		return err
	}
	if there(p.snapDir(v)) {
		return os.Rename(p.snapDir(v), p.snapDir(to))
	}
	return nil
}

func (p *plain) UndoRename(v storage.Volume, newName string) error {
	to := v.Renamed(newName)
	for _, pair := range [][2]string{{p.VolumePath(to), p.VolumePath(v)}, {p.snapDir(to), p.snapDir(v)}} {
		if there(pair[0]) && !there(pair[1]) {
			if err := os.Rename(pair[0], pair[1]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *plain) CopyVolume(ctx context.Context, src storage.Volume, srcSnap string, dst storage.Volume, withSnapshots bool) (err error) {
	from := p.VolumePath(src)
	if srcSnap != "" {
		from = p.snapPath(src, srcSnap)
	}
	if err := check(dst); err != nil {
		return err
	}
	if err := build(p.VolumePath(dst), func(tmp string) error { return copytree.Copy(ctx, from, tmp, copytree.Options{}) }); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = p.DeleteVolume(dst)
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
		if err := os.MkdirAll(p.snapDir(dst), 0o711); err != nil {
			return err
		}
		if err := build(p.snapPath(dst, s), func(tmp string) error { return copytree.Copy(ctx, p.snapPath(src, s), tmp, copytree.Options{}) }); err != nil {
			return err
		}
	}
	return nil
}

func (p *plain) CreateSnapshot(ctx context.Context, v storage.Volume, snap string) error {
	if err := os.MkdirAll(p.snapDir(v), 0o711); err != nil {
		return err
	}
	return build(p.snapPath(v, snap), func(tmp string) error {
		return copytree.Copy(ctx, p.VolumePath(v), tmp, copytree.Options{})
	})
}

func (p *plain) ViewSnapshot(_ context.Context, v storage.Volume, snap string, fn func(dir string) error) error {
	if !there(p.snapPath(v, snap)) {
		return fmt.Errorf("snapshot %s does not exist", snap)
	}
	return fn(p.snapPath(v, snap))
}

func (p *plain) DeleteSnapshot(v storage.Volume, snap string) error {
	return os.RemoveAll(p.snapPath(v, snap))
}

func (p *plain) RenameSnapshot(v storage.Volume, oldSnap, newSnap string) error {
	if there(p.snapPath(v, newSnap)) {
		return fmt.Errorf("snapshot %s exists", newSnap)
	}
	return os.Rename(p.snapPath(v, oldSnap), p.snapPath(v, newSnap))
}

func (p *plain) PrepareRestore(ctx context.Context, v storage.Volume, snap string) error {
	_ = os.RemoveAll(p.staging(v))
	return build(p.staging(v), func(tmp string) error {
		return copytree.Copy(ctx, p.snapPath(v, snap), tmp, copytree.Options{})
	})
}

// FinishRestore: volume aside, staging in, aside gone; from any point.
func (p *plain) FinishRestore(v storage.Volume) error {
	if there(p.staging(v)) {
		if there(p.VolumePath(v)) {
			_ = os.RemoveAll(p.aside(v))
			if err := os.Rename(p.VolumePath(v), p.aside(v)); err != nil {
				return err
			}
		}
		if err := os.Rename(p.staging(v), p.VolumePath(v)); err != nil {
			return err
		}
	}
	return os.RemoveAll(p.aside(v))
}

func (p *plain) RepairVolume(v storage.Volume) (string, error) {
	switch {
	case !there(p.VolumePath(v)) && there(p.aside(v)):
		_ = os.RemoveAll(p.staging(v))
		return "undid an interrupted snapshot restore", os.Rename(p.aside(v), p.VolumePath(v))
	case !there(p.VolumePath(v)) && there(p.staging(v)):
		return "kept the only copy of a volume, left by a snapshot restore", os.Rename(p.staging(v), p.VolumePath(v))
	}
	return "", nil
}

// RemoveLeftovers removes half-made trees, and prepared restores and
// swapped-out volumes beside whole volumes.
func (p *plain) RemoveLeftovers() ([]string, error) {
	var removed []string
	half, _ := filepath.Glob(filepath.Join(p.root, "*", ".tmp-*"))
	deeper, _ := filepath.Glob(filepath.Join(p.root, "snap", "*", ".tmp-*"))
	for _, path := range append(half, deeper...) {
		removed = append(removed, path)
		if err := os.RemoveAll(path); err != nil {
			return removed, err
		}
	}
	for _, dir := range []string{"staging", "aside"} {
		names, _ := names(filepath.Join(p.root, dir))
		for _, n := range names {
			if there(filepath.Join(p.root, "vol", n)) {
				removed = append(removed, filepath.Join(dir, n))
				if err := os.RemoveAll(filepath.Join(p.root, dir, n)); err != nil {
					return removed, err
				}
			}
		}
	}
	return removed, nil
}

type plainCrashes struct{}

func (plainCrashes) RestoreMovedAside(d storage.Driver, v storage.Volume) error {
	p := d.(*plain)
	return os.Rename(p.VolumePath(v), p.aside(v))
}

func (plainCrashes) HalfMade(d storage.Driver, v storage.Volume) error {
	p := d.(*plain)
	return os.MkdirAll(filepath.Join(filepath.Dir(p.VolumePath(v)), ".tmp-"+v.StorageName(), "rootfs"), 0o755)
}

func (plainCrashes) RenameMovedVolume(d storage.Driver, v storage.Volume, newName string) error {
	return os.Rename(d.VolumePath(v), d.VolumePath(v.Renamed(newName)))
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
