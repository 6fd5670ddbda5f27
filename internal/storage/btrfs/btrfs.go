// Package btrfs is the btrfs storage driver: every volume is a subvolume,
// an image is a read-only subvolume unpacked once per pool, and instances,
// snapshots and copies are subvolume snapshots, which share every block
// until it changes.
//
// The pool's root holds, as LXD's does:
//
//	images/<fp>                      an image, read-only
//	images/<fp>@<map>                the image shifted onto one id map, read-only
//	containers/<name>                an instance's volume (rootfs/ inside)
//	containers-snapshots/<name>/<s>  its snapshots, read-only
//	custom/<name>                    a custom volume
//	custom-snapshots/<name>/<s>
//	containers-exports/<name>        what the last optimized export sent, read-only,
//	                                 for an incremental one to send the changes since
//
// Changes that take more than one step go through a name with a suffix
// (.partial, .restore, .old) that start-up repair recognises.
package btrfs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/durable"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/storage"
)

// Driver is a btrfs pool whose volumes live under root.
type Driver struct {
	storage.Layout
	// backing is what the pool is mounted from, when lodged mounts it.
	backing *backing
	// imageMu orders image volume deletion against snapshots of it.
	imageMu sync.Mutex
	// quotaMu serialises turning quotas on.
	quotaMu sync.Mutex
}

// New opens the btrfs pool at root, a directory on a btrfs filesystem.
func New(root string) (*Driver, error) {
	if !onBtrfs(nearestExisting(root)) {
		return nil, apierr.BadRequest("%s is not on a btrfs filesystem", root)
	}
	if err := storage.MakePoolDirs(root); err != nil {
		return nil, err
	}
	return &Driver{Layout: storage.Layout{Root: root}}, nil
}

// Name is "btrfs".
func (d *Driver) Name() string { return "btrfs" }

// Capabilities: snapshots and copies are subvolume snapshots, instances
// are made from a kept image subvolume, sizes are quota groups, copies to
// another btrfs pool are send streams (send.go).
func (d *Driver) Capabilities() storage.Capabilities {
	return storage.Capabilities{CoWSnapshots: true, OptimizedImages: true, Quotas: true, SendReceive: true,
		VolumeTypes: []storage.VolumeType{storage.TypeContainer, storage.TypeCustom, storage.TypeImage}}
}

// check refuses a volume the driver does not hold, or whose name its
// start-up cleanup would take for a leftover.
func check(v storage.Volume) error { return storage.CheckLayoutVolume("btrfs", v) }

// typeDir makes v's type folder if it is missing.
func (d *Driver) typeDir(v storage.Volume) error {
	return os.MkdirAll(filepath.Dir(d.VolumePath(v)), storage.TypeDirMode(v.Type))
}

// CreateVolumeFromImage snapshots the image, as already shifted onto m's
// ids (see shiftedImage): a launch copies and chowns nothing.
func (d *Driver) CreateVolumeFromImage(ctx context.Context, v storage.Volume, fp string, m *idmap.Map) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dst, err := d.newVolumePath(v)
	if err != nil {
		return err
	}
	d.imageMu.Lock()
	defer d.imageMu.Unlock()
	src, err := d.shiftedImage(ctx, fp, m)
	if err != nil {
		return fmt.Errorf("create volume of %q from image %s: %w", v.Name, fp, err)
	}
	if err := d.snapshotInPlace(src, dst); err != nil {
		return fmt.Errorf("create volume of %q from image %s: %w", v.Name, fp, err)
	}
	return nil
}

// snapshotInPlace makes dst a writable snapshot of src. A snapshot is
// one ioctl, whole or not there, so it needs no temporary name; it is
// committed to disk before it returns, as the store's record of it comes
// next and must not outlive it.
func (d *Driver) snapshotInPlace(src, dst string) error {
	if err := snapshot(src, dst, false); err != nil {
		return err
	}
	if err := durable.Filesystem(dst); err != nil {
		_ = deleteSubvolume(dst)
		return err
	}
	return nil
}

// newVolumePath is where new volume v goes, once checked: a name the
// layout takes, not there yet, its type's folder made.
func (d *Driver) newVolumePath(v storage.Volume) (string, error) {
	if err := check(v); err != nil {
		return "", err
	}
	dst := d.VolumePath(v)
	if exists(dst) {
		return "", fmt.Errorf("volume %q already exists", v.Name)
	}
	return dst, d.typeDir(v)
}

// CreateEmptyVolume makes an empty subvolume (an instance's with an empty
// rootfs/).
func (d *Driver) CreateEmptyVolume(v storage.Volume) error {
	dst, err := d.newVolumePath(v)
	if err != nil {
		return err
	}
	if err := createSubvolume(dst); err != nil {
		return err
	}
	err = os.Chmod(dst, 0o711)
	if err == nil && v.Type != storage.TypeCustom {
		err = os.Mkdir(filepath.Join(dst, "rootfs"), 0o755)
	}
	if err != nil {
		_ = deleteSubvolume(dst)
		return fmt.Errorf("create volume %q: %w", v.Name, err)
	}
	return nil
}

// DeleteVolume destroys the volume, its snapshots, its export base and
// its received base.
func (d *Driver) DeleteVolume(v storage.Volume) error {
	if err := d.deleteSnapshots(d.SnapsDir(v)); err != nil {
		return err
	}
	if err := deleteSubvolume(d.exportBase(v)); err != nil {
		return err
	}
	if err := deleteReceived(d.receivedDir(v)); err != nil {
		return err
	}
	return deleteSubvolume(d.VolumePath(v))
}

// MountVolume does nothing: the pool is mounted when it is opened, and
// its subvolumes are directories in it.
func (d *Driver) MountVolume(storage.Volume) error { return nil }

// UnmountVolume does nothing, as MountVolume.
func (d *Driver) UnmountVolume(storage.Volume) error { return nil }

// RemapVolume moves the volume's files from one id map to another.
func (d *Driver) RemapVolume(v storage.Volume, from, to *idmap.Map) error {
	tree := filepath.Join(d.VolumePath(v), "rootfs")
	if err := idmap.Reshift(tree, from, to); err != nil {
		_ = idmap.Reshift(tree, to, from)
		return fmt.Errorf("remap volume of %q: %w", v.Name, err)
	}
	return nil
}

// RenameVolume renames the volume's subvolume and its snapshots' folder.
func (d *Driver) RenameVolume(v storage.Volume, newName string) error {
	return storage.RenamePaths(d.renames(v, newName))
}

// UndoRename moves back what a rename cut short moved.
func (d *Driver) UndoRename(v storage.Volume, newName string) error {
	return storage.UndoRenamePaths(d.renames(v, newName))
}

// renames are the layout's, the export base and the received base (a
// folder: the read-only subvolume in it stays put).
func (d *Driver) renames(v storage.Volume, newName string) [][2]string {
	return append(d.Renames(v, newName), [2]string{d.exportBase(v), d.exportBase(v.Renamed(newName))},
		[2]string{d.receivedDir(v), d.receivedDir(v.Renamed(newName))})
}

// RemoveLeftovers destroys what interrupted changes left: half-made
// images, volumes and snapshot folders, and restore copies.
func (d *Driver) RemoveLeftovers() ([]string, error) {
	var removed []string
	dirs := []string{"images"}
	for _, dir := range storage.LayoutDirs {
		dirs = append(dirs, dir, dir+"-snapshots", dir+"-exports", dir+"-received")
	}
	for _, dir := range dirs {
		names, err := storage.ListDir(filepath.Join(d.Root, dir))
		if err != nil {
			return removed, err
		}
		for _, name := range names {
			if !storage.IsLeftoverName(name) {
				continue
			}
			path := filepath.Join(d.Root, dir, name)
			switch {
			case strings.HasSuffix(dir, "-snapshots"):
				err = d.deleteSnapshots(path)
			case strings.HasSuffix(dir, "-received"):
				err = deleteReceived(path)
			default:
				err = deleteSubvolume(path)
			}
			if err != nil {
				return removed, err
			}
			removed = append(removed, filepath.Join(dir, name))
		}
	}
	return removed, nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
