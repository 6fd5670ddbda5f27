package dir

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/storage/copytree"
)

// copyVolume copies a volume or a snapshot (src) to dst through
// dst.partial. A layered one copies its upper layer and layer.json only;
// asInstance gives the copy the rootfs/ its overlay is mounted on.
func (d *Driver) copyVolume(ctx context.Context, src, dst string, asInstance bool) error {
	l, err := readLayer(src)
	if err != nil {
		return err
	}
	return buildInPlace(dst, func(tmp string) error {
		if l == nil {
			return copytree.Copy(ctx, src, tmp, copytree.Options{})
		}
		return copyLayers(ctx, src, tmp, *l, asInstance)
	})
}

func copyLayers(ctx context.Context, src, dst string, l layer, asInstance bool) error {
	if err := os.Mkdir(dst, 0o711); err != nil {
		return err
	}
	if err := copytree.Copy(ctx, filepath.Join(src, "upper"), filepath.Join(dst, "upper"), copytree.Options{}); err != nil {
		return err
	}
	if asInstance {
		if err := os.Mkdir(filepath.Join(dst, "rootfs"), 0o711); err != nil {
			return err
		}
	}
	if err := copyMetadata(src, dst); err != nil {
		return err
	}
	return writeLayer(dst, l)
}

// CopyVolume copies a volume (or one of its snapshots) to a new one.
func (d *Driver) CopyVolume(ctx context.Context, src storage.Volume, srcSnap string, dst storage.Volume, withSnapshots bool) error {
	if err := check(dst); err != nil {
		return err
	}
	from := d.VolumePath(src)
	if srcSnap != "" {
		from = d.SnapPath(src, srcSnap)
	}
	if _, err := os.Stat(from); err != nil {
		return fmt.Errorf("copy source %s: %w", from, err)
	}
	to := d.VolumePath(dst)
	if _, err := os.Lstat(to); err == nil {
		return fmt.Errorf("volume of instance %q already exists", dst.Name)
	}
	if err := d.copyVolume(ctx, from, to, true); err != nil {
		return fmt.Errorf("copy %q to %q: %w", src.Name, dst.Name, err)
	}
	if err := d.ensureMounted(to); err != nil {
		_ = d.removeVolume(to)
		return err
	}
	if _, err := os.Stat(d.SnapsDir(src)); withSnapshots && err == nil {
		// Snapshots are never mounted: their directories copy as they are.
		err := buildInPlace(d.SnapsDir(dst), func(tmp string) error {
			return copytree.Copy(ctx, d.SnapsDir(src), tmp, copytree.Options{})
		})
		if err != nil {
			_ = d.removeVolume(to)
			return fmt.Errorf("copy snapshots of %q to %q: %w", src.Name, dst.Name, err)
		}
	}
	return nil
}

// CreateSnapshot copies the instance's volume (its upper layer, when
// layered) into containers-snapshots/.
func (d *Driver) CreateSnapshot(ctx context.Context, v storage.Volume, snap string) error {
	if err := os.MkdirAll(filepath.Dir(d.SnapsDir(v)), storage.TypeDirMode(v.Type)); err != nil {
		return err
	}
	if err := os.MkdirAll(d.SnapsDir(v), 0o711); err != nil {
		return err
	}
	if _, err := os.Lstat(d.SnapPath(v, snap)); err == nil {
		return fmt.Errorf("snapshot %s/%s already exists on disk", v.Name, snap)
	}
	if err := d.copyVolume(ctx, d.VolumePath(v), d.SnapPath(v, snap), false); err != nil {
		return fmt.Errorf("snapshot %s/%s: %w", v.Name, snap, err)
	}
	return nil
}

// DeleteSnapshot removes a snapshot's copy.
func (d *Driver) DeleteSnapshot(v storage.Volume, snap string) error {
	return d.removeVolume(d.SnapPath(v, snap))
}

// removeSnapshots removes all of an instance's snapshots.
func (d *Driver) removeSnapshots(v storage.Volume) error {
	snaps, err := d.SnapshotNames(v)
	if err != nil {
		return err
	}
	for _, snap := range snaps {
		if err := d.DeleteSnapshot(v, snap); err != nil {
			return err
		}
	}
	return removeAll(d.SnapsDir(v))
}

// RenameSnapshot renames a snapshot's directory.
func (d *Driver) RenameSnapshot(v storage.Volume, oldSnap, newSnap string) error {
	if err := os.Rename(d.SnapPath(v, oldSnap), d.SnapPath(v, newSnap)); err != nil {
		return fmt.Errorf("rename snapshot %s/%s: %w", v.Name, oldSnap, err)
	}
	return nil
}

// A restore is two steps around the caller's commit of its records:
// PrepareRestore copies the snapshot next to the volume (<name>.restore),
// leaving the volume as it is; FinishRestore swaps the copy in (volume ->
// <name>.old, copy -> <name>, <name>.old removed) and completes a swap
// that a crash cut short from any point; CancelRestore drops the copy.

// PrepareRestore copies the snapshot to <name>.restore.
func (d *Driver) PrepareRestore(ctx context.Context, v storage.Volume, snap string) error {
	fresh := d.VolumePath(v) + ".restore"
	_ = d.removeVolume(fresh)
	if err := d.copyVolume(ctx, d.SnapPath(v, snap), fresh, true); err != nil {
		return fmt.Errorf("restore %s/%s: %w", v.Name, snap, err)
	}
	return nil
}

// FinishRestore swaps the prepared copy in.
func (d *Driver) FinishRestore(v storage.Volume) error {
	vol := d.VolumePath(v)
	if exists(vol + ".restore") {
		if err := unmountRootfs(vol); err != nil {
			return fmt.Errorf("restore %s: %w", v.Name, err)
		}
	}
	if err := storage.SwapIn(vol, d.removeVolume); err != nil {
		return fmt.Errorf("restore %s: %w", v.Name, err)
	}
	if err := d.ensureMounted(vol); err != nil {
		return fmt.Errorf("restore %s: %w", v.Name, err)
	}
	return nil
}

// CancelRestore drops a prepared copy that was not swapped in.
func (d *Driver) CancelRestore(v storage.Volume) error {
	return d.removeVolume(d.VolumePath(v) + ".restore")
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// SnapshotNames lists an instance's snapshot directories.
func (d *Driver) SnapshotNames(v storage.Volume) ([]string, error) {
	entries, err := os.ReadDir(d.SnapsDir(v))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out, nil
}

// RepairVolume completes an interrupted restore (if the volume is gone
// but the restored copy is whole, it takes the volume's place; leftovers
// go) and mounts a layered volume's overlay again after a host reboot.
func (d *Driver) RepairVolume(v storage.Volume) (string, error) {
	what, err := storage.RepairSwap(d.VolumePath(v), d.removeVolume)
	if err != nil {
		return what, err
	}
	return what, d.ensureMounted(d.VolumePath(v))
}

// ViewSnapshot calls fn with the snapshot's directory; a layered one's
// files are its upper layer over the image, so they are shown through a
// read-only overlay in a folder of its own (.view-*) while fn runs.
func (d *Driver) ViewSnapshot(ctx context.Context, v storage.Volume, snap string, fn func(dir string) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sp := d.SnapPath(v, snap)
	l, err := readLayer(sp)
	if err != nil {
		return err
	}
	if l == nil {
		if _, err := os.Stat(sp); err != nil {
			return fmt.Errorf("snapshot %s/%s: %w", v.Name, snap, err)
		}
		return fn(sp)
	}
	view, err := os.MkdirTemp(d.Root, viewPrefix)
	if err != nil {
		return err
	}
	defer func() {
		_ = unmountRootfs(view)
		_ = os.RemoveAll(view)
	}()
	rootfs := filepath.Join(view, "rootfs")
	if err := os.Mkdir(rootfs, 0o711); err != nil {
		return err
	}
	if err := d.mountOverlay(rootfs, l, filepath.Join(sp, "upper"), ""); err != nil {
		return fmt.Errorf("view snapshot %s/%s: %w", v.Name, snap, err)
	}
	return fn(view)
}

// viewPrefix names the folders ViewSnapshot mounts snapshots in.
const viewPrefix = ".view-"
