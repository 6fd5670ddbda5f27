// Package storage holds the storage pool model and the driver interface that
// every backend (dir, btrfs, ...) implements.
package storage

import (
	"context"

	"github.com/lodge-project/lodge/internal/idmap"
)

// Driver is a storage backend for one pool. Volumes are named by Volume
// (pool, project, type, name, content type); image volumes, shared by the
// pool's projects, by fingerprint. Image volumes hold an image unpacked
// once; instance volumes are made from them. The methods that copy a
// volume's files take the operation's context and stop when it ends,
// leaving nothing behind.
type Driver interface {
	// Name is the driver's registry name ("dir").
	Name() string
	// Capabilities says what the driver can do.
	Capabilities() Capabilities

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
	// DeleteImageVolume removes image fp's volume; while volumes or
	// snapshots still depend on it, it is only no longer offered.
	DeleteImageVolume(fp string) error

	// CreateVolumeFromImage makes v from image fp, owned by the map's
	// host ids (nil: unshifted, for privileged instances).
	CreateVolumeFromImage(ctx context.Context, v Volume, fp string, m *idmap.Map) error
	// CreateEmptyVolume makes an empty volume (an instance's source none).
	CreateEmptyVolume(v Volume) error
	// DeleteVolume removes a volume and its snapshots; a missing one is
	// not an error.
	DeleteVolume(v Volume) error
	// MountVolume makes the volume's rootfs/ usable (a layered volume's
	// overlay mounted); it does nothing when it already is.
	MountVolume(v Volume) error
	// UnmountVolume undoes MountVolume (for a stopped instance, when
	// lodged stops), so the state directory can be removed.
	UnmountVolume(v Volume) error
	// RemapVolume moves a volume's file ownership from one id map to
	// another (nil: host ids, a privileged instance).
	RemapVolume(v Volume, from, to *idmap.Map) error
	// RenameVolume gives v and its snapshots a new name.
	RenameVolume(v Volume, newName string) error
	// UndoRename moves back what an interrupted RenameVolume moved.
	UndoRename(v Volume, newName string) error
	// VolumePath is the volume's directory (holding rootfs/).
	VolumePath(v Volume) string
	// VolumeNames lists the storage names (Volume.StorageName) of the
	// volumes of type typ on disk, for start-up repair (leftovers of
	// interrupted changes too, until RemoveLeftovers).
	VolumeNames(typ VolumeType) ([]string, error)

	// CopyVolume makes dst from src, or from src's snapshot srcSnap when
	// that is not empty; withSnapshots copies src's snapshots too.
	CopyVolume(ctx context.Context, src Volume, srcSnap string, dst Volume, withSnapshots bool) error
	// CreateSnapshot makes an immutable copy of v.
	CreateSnapshot(ctx context.Context, v Volume, snap string) error
	// DeleteSnapshot removes a snapshot; a missing one is not an error.
	DeleteSnapshot(v Volume, snap string) error
	// RenameSnapshot renames a snapshot.
	RenameSnapshot(v Volume, oldSnap, newSnap string) error
	// SnapshotNames lists v's snapshots on disk.
	SnapshotNames(v Volume) ([]string, error)
	// ViewSnapshot calls fn with a directory holding snapshot snap of v
	// as the volume's own directory holds it (rootfs/ and what else the
	// volume keeps), for reading only (a backup).
	ViewSnapshot(ctx context.Context, v Volume, snap string, fn func(dir string) error) error
	// PrepareRestore makes a copy of the snapshot beside the volume,
	// which it leaves as it is.
	PrepareRestore(ctx context.Context, v Volume, snap string) error
	// FinishRestore swaps the prepared copy in for the volume; it
	// completes a swap a crash cut short, from any point.
	FinishRestore(v Volume) error
	// CancelRestore drops a prepared copy that was not swapped in.
	CancelRestore(v Volume) error
	// RepairVolume undoes a restore that a crash cut short without an
	// intent to finish it, mounts the volume, and returns what it did (""
	// when nothing was needed).
	RepairVolume(v Volume) (string, error)
	// RemoveLeftovers removes what interrupted changes left and nothing
	// needs any more: half-made volumes, prepared restores beside whole
	// volumes. Start-up calls it once intents are settled and volumes
	// repaired; it returns what it removed, for the log.
	RemoveLeftovers() ([]string, error)
}

// ImageWriteback is a driver whose image volumes reach the disk after
// they are made, not before (dir: a volume is a cache of its image file,
// which is synced). Start-up calls RecoverImageVolumes before any volume
// is mounted: volumes a host crash may have cut short are filled again by
// unpackFor's unpack (ok false: the image is gone).
type ImageWriteback interface {
	RecoverImageVolumes(unpackFor func(fp string) (unpack func(dir string) error, ok bool)) error
}
