package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/store"
	"github.com/lodge-project/lodge/internal/validate"
)

// Renames, copies and moves of custom volumes. A rename writes the new
// record (marked renamed_from) before the driver moves the data, and drops
// the old record after: start-up undoes a rename a crash cut short, found
// by the mark (repairRenames). A copy makes the data, then the
// records; a move between pools is a copy, then the source's deletion.

// RenameCustomVolume renames a custom volume nothing uses and its
// snapshots.
func (p *Pools) RenameCustomVolume(pool, proj, name, newName string, inUse func() ([]string, error)) error {
	if err := validate.PoolName(newName); err != nil || IsLeftoverName(newName) {
		return apierr.BadRequest("volume name %q is invalid: use letters, digits, '-', '_' and '.'", newName)
	}
	p.use.Lock() // no attach lands while it moves
	defer p.use.Unlock()
	if err := refuseUsed(name, inUse); err != nil {
		return err
	}
	d, err := p.Get(pool)
	if err != nil {
		return err
	}
	r, _, err := p.CustomVolume(pool, proj, name)
	if err != nil {
		return err
	}
	proj = r.Project
	oldKey, newKey := volumeKey(pool, proj, name), volumeKey(pool, proj, newName)
	snaps, err := p.CustomVolumeSnapshots(pool, proj, name)
	if err != nil {
		return err
	}
	renamed := r
	renamed.Name, renamed.RenamedFrom = newName, name
	err = p.db.Update(func(tx *store.Tx) error {
		if tx.Exists(store.Volumes, newKey) {
			return apierr.Conflict("storage volume %q already exists on pool %q", newName, pool)
		}
		if err := tx.Create(store.Volumes, newKey, renamed); err != nil {
			return err
		}
		for _, s := range snaps {
			s.Volume = newName
			if err := tx.Create(store.VolumeSnapshots, newKey+"/"+s.Name, s); err != nil {
				return err
			}
		}
		for _, k := range tx.KeysWithPrefix(store.VolumeBackups, oldKey+"/") {
			var b VolumeBackupRecord
			if _, err := tx.Get(store.VolumeBackups, k, &b); err != nil {
				return err
			}
			b.Volume = newName
			if err := tx.Create(store.VolumeBackups, newKey+"/"+b.Name, b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := d.RenameVolume(r.Volume(), newName); err != nil {
		_ = p.db.Update(func(tx *store.Tx) error { return dropVolumeRecords(tx, newKey) })
		return fmt.Errorf("rename storage volume %q: %w", name, err)
	}
	// The backups' tarballs follow (repairRenames moves them back too).
	oldBackups, newBackups := p.volumeBackupsDir(r.Volume()), p.volumeBackupsDir(renamed.Volume())
	if err := os.Rename(oldBackups, newBackups); err != nil && !errors.Is(err, os.ErrNotExist) {
		_ = d.UndoRename(r.Volume(), newName)
		_ = p.db.Update(func(tx *store.Tx) error { return dropVolumeRecords(tx, newKey) })
		return fmt.Errorf("rename storage volume %q: its backups: %w", name, err)
	}
	return p.db.Update(func(tx *store.Tx) error {
		if err := dropVolumeRecords(tx, oldKey); err != nil {
			return err
		}
		renamed.RenamedFrom = ""
		_, err := tx.Put(store.Volumes, newKey, renamed, 0)
		return err
	})
}

// dropVolumeRecords deletes a custom volume's record and its snapshots'
// and backups'.
func dropVolumeRecords(tx *store.Tx, key string) error {
	for _, bucket := range []string{store.VolumeSnapshots, store.VolumeBackups} {
		for _, k := range tx.KeysWithPrefix(bucket, key+"/") {
			if err := tx.Delete(bucket, k); err != nil {
				return err
			}
		}
	}
	if tx.Exists(store.Volumes, key) {
		return tx.Delete(store.Volumes, key)
	}
	return nil
}

func refuseUsed(name string, inUse func() ([]string, error)) error {
	users, err := inUse()
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return apierr.BadRequest("storage volume %q is in use by %s: detach it first", name, strings.Join(users, ", "))
	}
	return nil
}

// VolumeCopy is a copy of custom volume SrcName (of pool SrcPool and
// project SrcProject) as DstName, with Description and Config (nil: the
// source's), on DstPool in DstProject ("": the source's project).
type VolumeCopy struct {
	SrcPool, SrcProject, SrcName string
	DstPool, DstProject, DstName string
	Description                  string
	Config                       map[string]string
	// VolumeOnly leaves the snapshots behind.
	VolumeOnly bool
}

// CopyCustomVolume makes the copy c says, with the source's snapshots
// unless VolumeOnly: by the driver within a pool, file by file between
// pools.
func (p *Pools) CopyCustomVolume(ctx context.Context, c VolumeCopy) error {
	defer p.Hold()()
	srcPool, proj, srcName, dstPool, dstName := c.SrcPool, c.SrcProject, c.SrcName, c.DstPool, c.DstName
	description, config, volumeOnly := c.Description, c.Config, c.VolumeOnly
	src, _, err := p.CustomVolume(srcPool, proj, srcName)
	if err != nil {
		return err
	}
	dstProj := c.DstProject
	if dstProj == "" {
		dstProj = src.Project
	}
	if err := validate.PoolName(dstName); err != nil {
		return apierr.BadRequest("volume name %q is invalid: use letters, digits, '-', '_' and '.'", dstName)
	}
	from, err := p.Get(srcPool)
	if err != nil {
		return err
	}
	to, err := p.Get(dstPool)
	if err != nil {
		return err
	}
	if !slices.Contains(to.Capabilities().VolumeTypes, TypeCustom) {
		return apierr.BadRequest("storage pool %q (driver %s) cannot hold custom volumes", dstPool, to.Name())
	}
	if config == nil {
		config = copyConfig(src.Config)
	}
	dst := VolumeRecord{Pool: dstPool, Project: project.Name(dstProj), Name: dstName, Description: description, Config: config,
		ContentType: src.ContentType, CreatedAt: time.Now().UTC()}
	if err := p.admit(to, dst); err != nil {
		return err
	}
	key := volumeKey(dstPool, dst.Project, dstName)
	defer p.volumeLocks.Lock(key)()
	if p.db.Has(store.Volumes, key) {
		return apierr.Conflict("storage volume %q already exists on pool %q", dstName, dstPool)
	}
	var snaps []VolumeSnapshotRecord
	if !volumeOnly {
		if snaps, err = p.CustomVolumeSnapshots(srcPool, proj, srcName); err != nil {
			return err
		}
	}
	if srcPool == dstPool {
		err = from.CopyVolume(ctx, src.Volume(), "", dst.Volume(), !volumeOnly)
	} else {
		names := make([]string, 0, len(snaps))
		for _, s := range snaps {
			names = append(names, s.Name)
		}
		err = CopyAcross(ctx, from, src.Volume(), "", names, to, dst.Volume())
	}
	if err != nil {
		return fmt.Errorf("copy storage volume %q: %w", srcName, err)
	}
	err = SetVolumeSize(to, dst.Volume(), config["size"])
	if err == nil {
		err = p.db.Update(func(tx *store.Tx) error {
			if err := tx.Create(store.Volumes, key, dst); err != nil {
				return err
			}
			for _, s := range snaps {
				s.Pool, s.Project, s.Volume = dstPool, dst.Project, dstName
				if err := tx.Create(store.VolumeSnapshots, key+"/"+s.Name, s); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		_ = to.DeleteVolume(dst.Volume())
		return err
	}
	return nil
}

// MoveCustomVolume moves a custom volume nothing uses to another pool or
// project (under a new name, if given): a copy, then the source's
// deletion.
func (p *Pools) MoveCustomVolume(ctx context.Context, pool, proj, name, dstPool, dstProj, dstName string, inUse func() ([]string, error)) error {
	if err := refuseUsed(name, inUse); err != nil {
		return err
	}
	r, _, err := p.CustomVolume(pool, proj, name)
	if err != nil {
		return err
	}
	err = p.CopyCustomVolume(ctx, VolumeCopy{SrcPool: pool, SrcProject: proj, SrcName: name, DstPool: dstPool, DstProject: dstProj, DstName: dstName,
		Description: r.Description, Config: r.Config})
	if err != nil {
		return err
	}
	return p.DeleteCustomVolumeUnused(pool, proj, name, inUse)
}

// repairRenames undoes the renames a crash cut short: whatever the driver
// moved goes back, and the new records go (the old ones were never
// dropped), so the volume is whole under its old name.
func (p *Pools) repairRenames(log *slog.Logger, pool string, d Driver, records []VolumeRecord) {
	for _, r := range records {
		if r.RenamedFrom == "" {
			continue
		}
		old := r.Volume()
		old.Name = r.RenamedFrom
		err := d.UndoRename(old, r.Name)
		if err == nil {
			err = UndoRenamePaths([][2]string{{p.volumeBackupsDir(old), p.volumeBackupsDir(r.Volume())}})
		}
		if err == nil {
			err = p.db.Update(func(tx *store.Tx) error { return dropVolumeRecords(tx, volumeKey(pool, r.Project, r.Name)) })
		}
		log.Warn("repair: undid a custom volume rename", "pool", pool, "volume", r.RenamedFrom, "new_name", r.Name, "err", err)
	}
}
