package dir

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/migration"
	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/storage/projquota"
)

// Sizes on a dir pool are project quotas, where the pool's filesystem
// enforces them (XFS mounted with prjquota; ext4 with the project
// feature): each sized volume's files carry a project id of their own,
// passed on to what is made in its directories, and the id is limited. A
// layered volume counts what the instance wrote (its upper layer), not
// the image it shares.

// firstProjectID leaves the low ids to projects the admin defines.
const firstProjectID = 1 << 20

func (d *Driver) quotasOn() bool {
	d.quotaOnce.Do(func() { d.quotas = projquota.Supported(d.Root) })
	return d.quotas
}

// quotaTree is the part of a volume that holds its own blocks: a layered
// one's layers (never its mounted rootfs), or the whole volume.
func (d *Driver) quotaTrees(vol string) ([]string, error) {
	l, err := readLayer(vol)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return []string{vol}, nil
	}
	return []string{filepath.Join(vol, "upper"), filepath.Join(vol, "work")}, nil
}

// projectID is the volume's project id, given now if it has none.
func (d *Driver) projectID(vol string) (uint32, error) {
	d.quotaMu.Lock()
	defer d.quotaMu.Unlock()
	if id, err := projquota.ID(vol); err != nil || id != 0 {
		return id, err
	}
	next := uint32(firstProjectID)
	seen := func(path string) {
		if id, err := projquota.ID(path); err == nil && id >= next {
			next = id + 1
		}
	}
	for _, dir := range storage.LayoutDirs {
		entries, _ := os.ReadDir(filepath.Join(d.Root, dir))
		for _, e := range entries {
			seen(filepath.Join(d.Root, dir, e.Name()))
		}
		// A volume being rebuilt (rebuild.go) keeps its id there.
		entries, _ = os.ReadDir(d.rebuildFolder(dir))
		for _, e := range entries {
			seen(filepath.Join(d.rebuildFolder(dir), e.Name(), migration.LinkedOld))
		}
	}
	// The volume's own directory holds the id (its layers get it from
	// the caller's walk; a mounted rootfs is never walked).
	return next, projquota.SetDirID(vol, next)
}

// SetVolumeSize limits the volume to n bytes (0: no limit).
func (d *Driver) SetVolumeSize(v storage.Volume, n int64) error {
	if !d.quotasOn() {
		return apierr.BadRequest("the filesystem of storage pool %q has no project quotas", v.Pool)
	}
	vol := d.VolumePath(v)
	if n == 0 {
		id, err := projquota.ID(vol)
		if err != nil || id == 0 {
			return err
		}
		return projquota.SetLimit(d.Root, id, 0)
	}
	id, err := d.projectID(vol)
	if err != nil {
		return err
	}
	trees, err := d.quotaTrees(vol)
	if err != nil {
		return err
	}
	for _, t := range trees {
		if err := projquota.SetID(t, id); err != nil {
			return fmt.Errorf("size of %q: %w", v.Name, err)
		}
	}
	if used, err := projquota.Usage(d.Root, id); err == nil && used > n {
		return apierr.BadRequest("volume %q holds %d bytes, more than the size %d: free space first", v.Name, used, n)
	}
	return projquota.SetLimit(d.Root, id, n)
}

// VolumeUsage is what the volume's project holds.
func (d *Driver) VolumeUsage(v storage.Volume) (int64, error) {
	id, err := projquota.ID(d.VolumePath(v))
	if err != nil {
		return 0, err
	}
	if id == 0 {
		return 0, fmt.Errorf("volume %q has no size", v.Name)
	}
	return projquota.Usage(d.Root, id)
}

// dropQuota lifts the limit of a volume about to go, so its id holds none.
func (d *Driver) dropQuota(vol string) {
	if !d.quotasOn() {
		return
	}
	if id, err := projquota.ID(vol); err == nil && id != 0 {
		_ = projquota.SetLimit(d.Root, id, 0)
	}
}
