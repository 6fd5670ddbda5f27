package dir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lodge-project/lodge/internal/migration"
	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/storage/projquota"
)

// A rebuild's workspace (storage.Rebuilder) is a folder of its own
// outside the volume type's folder, which start-up reads as volumes: in
// <type folder>-rebuild/<volume>/, on the pool's filesystem, so that the
// volume's tree moves in and out by rename.

func (d *Driver) rebuildWorkspace(v storage.Volume) string {
	return filepath.Join(d.rebuildFolder(storage.LayoutDirs[v.Type]), v.StorageName())
}

// rebuildFolder holds the workspaces of the volumes of type folder
// typeDir.
func (d *Driver) rebuildFolder(typeDir string) string {
	return filepath.Join(d.Root, typeDir+"-rebuild")
}

// BeginRebuild moves the volume's tree into its workspace as old/ and
// makes new/ beside it, with old's quota project id (passed on to what is
// made in it; and a hard link across project ids is refused).
func (d *Driver) BeginRebuild(v storage.Volume) (string, error) {
	if err := check(v); err != nil {
		return "", err
	}
	vol, ws := d.VolumePath(v), d.rebuildWorkspace(v)
	if l, err := readLayer(vol); err != nil || l != nil {
		return "", fmt.Errorf("volume %q is layered: only a whole tree is rebuilt (%v)", v.Name, err)
	}
	old, fresh := filepath.Join(ws, migration.LinkedOld), filepath.Join(ws, migration.LinkedNew)
	if _, err := os.Lstat(ws); err == nil {
		// Left by a rebuild that was committed (the volume is in place)
		// and not cleaned up.
		if err := d.EndRebuild(v); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(filepath.Dir(ws), 0o700); err != nil {
		return "", err
	}
	if err := os.Mkdir(ws, 0o700); err != nil {
		return "", err
	}
	if err := os.Rename(vol, old); err != nil {
		_ = os.Remove(ws)
		return "", fmt.Errorf("set volume %q aside: %w", v.Name, err)
	}
	err := os.Mkdir(fresh, 0o711)
	if err == nil && d.quotasOn() {
		var id uint32
		if id, err = projquota.ID(old); err == nil && id != 0 {
			err = projquota.SetDirID(fresh, id)
		}
	}
	if err != nil {
		_, uerr := d.UndoRebuild(v)
		return "", errors.Join(fmt.Errorf("rebuild volume %q: %w", v.Name, err), uerr)
	}
	return ws, nil
}

// FinishRebuild puts new/ in the volume's place.
func (d *Driver) FinishRebuild(v storage.Volume) error {
	fresh := filepath.Join(d.rebuildWorkspace(v), migration.LinkedNew)
	if err := os.Rename(fresh, d.VolumePath(v)); err != nil {
		return fmt.Errorf("put the rebuilt volume %q in place: %w", v.Name, err)
	}
	return nil
}

// UndoRebuild puts old/ back in the volume's place, after moving the new
// tree there, if it was, into the workspace, and removes the workspace.
func (d *Driver) UndoRebuild(v storage.Volume) (bool, error) {
	vol, ws := d.VolumePath(v), d.rebuildWorkspace(v)
	old := filepath.Join(ws, migration.LinkedOld)
	if _, err := os.Lstat(old); errors.Is(err, os.ErrNotExist) {
		// Nothing was moved aside, or it is back already: by an undo
		// cut short if the rebuilt tree waits there to be removed.
		_, serr := os.Lstat(filepath.Join(ws, "undone"))
		return serr == nil, removeAll(ws)
	} else if err != nil {
		return false, err
	}
	if _, err := os.Lstat(vol); err == nil {
		if err := os.Rename(vol, filepath.Join(ws, "undone")); err != nil {
			return false, fmt.Errorf("set the rebuilt volume %q aside: %w", v.Name, err)
		}
	}
	if err := os.Rename(old, vol); err != nil {
		return false, fmt.Errorf("put volume %q back: %w", v.Name, err)
	}
	return true, removeAll(ws)
}

// EndRebuild removes the workspace of a rebuild that was committed. It
// refuses to while the volume is not in place: then old/ is all there is.
// The old tree is garbage by then, and as large as the volume: it is
// renamed out of the way and removed in the background (RemoveLeftovers
// finishes what a stop cut short).
func (d *Driver) EndRebuild(v storage.Volume) error {
	ws := d.rebuildWorkspace(v)
	if _, err := os.Lstat(ws); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if _, err := os.Lstat(d.VolumePath(v)); err != nil {
		return fmt.Errorf("volume %q is not in place beside its rebuild's workspace (%v): undo the rebuild", v.Name, err)
	}
	trash, err := os.MkdirTemp(d.Root, rebuiltPrefix)
	if err != nil {
		return err
	}
	if err := os.Rename(ws, filepath.Join(trash, "tree")); err != nil {
		_ = os.Remove(trash)
		return fmt.Errorf("remove the tree volume %q had before its rebuild: %w", v.Name, err)
	}
	d.removals.Add(1)
	go func() {
		defer d.removals.Done()
		_ = removeAll(trash)
	}()
	return nil
}

// rebuiltPrefix names the folders old trees wait in to be removed.
const rebuiltPrefix = ".rebuilt-"
