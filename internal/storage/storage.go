// Package storage holds the storage pool model and the driver interface that
// every backend (dir, btrfs, ...) implements.
package storage

import (
	"context"

	"github.com/lodge-project/lodge/internal/idmap"
)

// Driver is a storage backend for one pool. Image volumes hold an image
// unpacked once; instance volumes are made from them. The methods that copy
// a volume's files take the operation's context and stop when it ends,
// leaving nothing behind.
type Driver interface {
	// Name is the driver's registry name ("dir").
	Name() string
	// CreateImageVolume makes the volume of image fp, filled by unpack
	// (which gets the volume's directory). A failure leaves nothing behind.
	CreateImageVolume(fp string, unpack func(dir string) error) error
	// HasImageVolume says whether fp's volume exists.
	HasImageVolume(fp string) bool
	// ImageVolumePath is the unpacked image's directory.
	ImageVolumePath(fp string) string
	// ImageVolumeNames lists the image volumes on disk, half-made ones
	// included and retired ones not, for start-up repair.
	ImageVolumeNames() ([]string, error)
	// DeleteImageVolume removes image fp's volume; while instances or
	// snapshots still depend on it, it is only no longer offered.
	DeleteImageVolume(fp string) error
	// CreateInstanceFromImage makes instance name's volume from image fp,
	// owned by the map's host ids (nil: unshifted, for privileged instances).
	CreateInstanceFromImage(ctx context.Context, name, fp string, m *idmap.Map) error
	// CreateEmptyInstance makes an empty volume (source type none).
	CreateEmptyInstance(name string) error
	// DeleteInstance removes an instance volume; a missing one is not an error.
	DeleteInstance(name string) error
	// MountInstance makes the volume's rootfs/ usable (a layered volume's
	// overlay mounted); it does nothing when it already is.
	MountInstance(name string) error
	// UnmountInstance undoes MountInstance (for a stopped instance, when
	// lodged stops), so the state directory can be removed.
	UnmountInstance(name string) error
	// RemapInstance moves a volume's file ownership from one id map to
	// another (nil: host ids, a privileged instance).
	RemapInstance(name string, from, to *idmap.Map) error
	// RenameInstance moves a volume to a new name.
	RenameInstance(oldName, newName string) error
	// InstancePath is the instance volume's directory (holding rootfs/).
	InstancePath(name string) string
	// InstanceNames lists the instance volumes on disk, for start-up repair.
	InstanceNames() ([]string, error)

	// CopyInstance makes instance dst's volume from src's, or from src's
	// snapshot srcSnap when that is not empty; withSnapshots copies src's
	// snapshots too.
	CopyInstance(ctx context.Context, src, srcSnap, dst string, withSnapshots bool) error
	// CreateSnapshot makes an immutable copy of instance name's volume.
	CreateSnapshot(ctx context.Context, name, snap string) error
	// DeleteSnapshot removes a snapshot; a missing one is not an error.
	DeleteSnapshot(name, snap string) error
	// RenameSnapshot renames a snapshot.
	RenameSnapshot(name, oldSnap, newSnap string) error
	// PrepareRestore makes a copy of the snapshot beside the instance's
	// volume, which it leaves as it is.
	PrepareRestore(ctx context.Context, name, snap string) error
	// FinishRestore swaps the prepared copy in for the volume; it
	// completes a swap a crash cut short, from any point.
	FinishRestore(name string) error
	// CancelRestore drops a prepared copy that was not swapped in.
	CancelRestore(name string) error
	// UndoRename moves back what an interrupted RenameInstance moved.
	UndoRename(oldName, newName string) error
	// SnapshotNames lists the snapshots of an instance on disk.
	SnapshotNames(name string) ([]string, error)
	// RepairInstance undoes a restore that a crash cut short without an
	// intent to finish it, mounts the volume, and returns what it did (""
	// when nothing was needed).
	RepairInstance(name string) (string, error)
}
