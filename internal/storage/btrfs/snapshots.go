package btrfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lodge-project/lodge/internal/durable"
	"github.com/lodge-project/lodge/internal/storage"
)

// CreateSnapshot makes a read-only snapshot of the volume.
func (d *Driver) CreateSnapshot(ctx context.Context, v storage.Volume, snap string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(d.SnapsDir(v)), storage.TypeDirMode(v.Type)); err != nil {
		return err
	}
	if err := os.MkdirAll(d.SnapsDir(v), 0o711); err != nil {
		return err
	}
	dst := d.SnapPath(v, snap)
	if exists(dst) {
		return fmt.Errorf("snapshot %s/%s already exists on disk", v.Name, snap)
	}
	if err := snapshot(d.VolumePath(v), dst, true); err != nil {
		return fmt.Errorf("snapshot %s/%s: %w", v.Name, snap, err)
	}
	if err := durable.Filesystem(dst); err != nil {
		_ = deleteSubvolume(dst)
		return err
	}
	return nil
}

// DeleteSnapshot destroys a snapshot.
func (d *Driver) DeleteSnapshot(v storage.Volume, snap string) error {
	if rb, _, _, ok := d.base(v); ok && rb.Snapshot == snap {
		// The received base of a snapshot that is gone is no parent.
		if err := deleteReceived(d.receivedDir(v)); err != nil {
			return err
		}
	}
	return deleteSubvolume(d.SnapPath(v, snap))
}

// deleteSnapshots destroys every snapshot in a snapshots folder, then it.
func (d *Driver) deleteSnapshots(dir string) error {
	names, err := storage.ListDir(dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := deleteSubvolume(filepath.Join(dir, n)); err != nil {
			return err
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// RenameSnapshot renames a snapshot's subvolume.
func (d *Driver) RenameSnapshot(v storage.Volume, oldSnap, newSnap string) error {
	if rb, _, _, ok := d.base(v); ok && rb.Snapshot == oldSnap {
		// Another name is another snapshot to the source: a refresh
		// would not match it.
		if err := deleteReceived(d.receivedDir(v)); err != nil {
			return err
		}
	}
	if err := os.Rename(d.SnapPath(v, oldSnap), d.SnapPath(v, newSnap)); err != nil {
		return fmt.Errorf("rename snapshot %s/%s: %w", v.Name, oldSnap, err)
	}
	return nil
}

// SnapshotNames lists a volume's snapshots.
func (d *Driver) SnapshotNames(v storage.Volume) ([]string, error) {
	return storage.ListDir(d.SnapsDir(v))
}

// CopyVolume snapshots the volume (or one of its snapshots) to a new one;
// its snapshots, when asked, are snapshotted into a folder made under a
// temporary name and renamed into place, so a crash leaves no half set.
func (d *Driver) CopyVolume(ctx context.Context, src storage.Volume, srcSnap string, dst storage.Volume, withSnapshots bool) error {
	if err := check(dst); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	from := d.VolumePath(src)
	if srcSnap != "" {
		from = d.SnapPath(src, srcSnap)
	}
	if !isSubvolume(from) {
		return fmt.Errorf("copy source %s is not a volume", from)
	}
	to := d.VolumePath(dst)
	if exists(to) {
		return fmt.Errorf("volume %q already exists", dst.Name)
	}
	if err := d.typeDir(dst); err != nil {
		return err
	}
	snaps, err := d.SnapshotNames(src)
	if err != nil || !withSnapshots {
		snaps = nil
	}
	if len(snaps) > 0 {
		tmp := d.SnapsDir(dst) + ".partial"
		if err := d.deleteSnapshots(tmp); err != nil {
			return err
		}
		if err := os.MkdirAll(tmp, 0o711); err != nil {
			return err
		}
		for _, s := range snaps {
			if err := ctx.Err(); err != nil {
				_ = d.deleteSnapshots(tmp)
				return err
			}
			if err := snapshot(d.SnapPath(src, s), filepath.Join(tmp, s), true); err != nil {
				_ = d.deleteSnapshots(tmp)
				return fmt.Errorf("copy snapshot %s of %q: %w", s, src.Name, err)
			}
		}
		if err := os.Rename(tmp, d.SnapsDir(dst)); err != nil {
			_ = d.deleteSnapshots(tmp)
			return err
		}
	}
	if err := d.snapshotInPlace(from, to); err != nil {
		_ = d.deleteSnapshots(d.SnapsDir(dst))
		return fmt.Errorf("copy %q to %q: %w", src.Name, dst.Name, err)
	}
	return nil
}

// A restore is two steps around the caller's commit of its records, as in
// the dir driver: PrepareRestore snapshots the snapshot next to the volume
// (<name>.restore); FinishRestore swaps it in (volume -> <name>.old, copy
// -> <name>, <name>.old destroyed) and completes a swap that a crash cut
// short from any point; CancelRestore drops the copy.

// PrepareRestore makes a writable snapshot of snap at <name>.restore.
func (d *Driver) PrepareRestore(ctx context.Context, v storage.Volume, snap string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fresh := d.VolumePath(v) + ".restore"
	if err := deleteSubvolume(fresh); err != nil {
		return err
	}
	if err := d.snapshotInPlace(d.SnapPath(v, snap), fresh); err != nil {
		return fmt.Errorf("restore %s/%s: %w", v.Name, snap, err)
	}
	return nil
}

// FinishRestore swaps the prepared copy in.
func (d *Driver) FinishRestore(v storage.Volume) error {
	if err := storage.SwapIn(d.VolumePath(v), deleteSubvolume); err != nil {
		return fmt.Errorf("restore %s: %w", v.Name, err)
	}
	return nil
}

// CancelRestore drops a prepared copy that was not swapped in.
func (d *Driver) CancelRestore(v storage.Volume) error {
	return deleteSubvolume(d.VolumePath(v) + ".restore")
}

// RepairVolume completes or undoes a restore a crash cut short.
func (d *Driver) RepairVolume(v storage.Volume) (string, error) {
	return storage.RepairSwap(d.VolumePath(v), deleteSubvolume)
}

// ViewSnapshot calls fn with the snapshot's subvolume, which is read-only.
func (d *Driver) ViewSnapshot(ctx context.Context, v storage.Volume, snap string, fn func(dir string) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sp := d.SnapPath(v, snap)
	if !isSubvolume(sp) {
		return fmt.Errorf("snapshot %s/%s does not exist", v.Name, snap)
	}
	return fn(sp)
}
