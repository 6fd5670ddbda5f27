package storage

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/cron"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/revert"
	"github.com/lodge-project/lodge/internal/store"
	"github.com/lodge-project/lodge/internal/validate"
)

// VolumeRecord is a custom volume as the store keeps it. Instance and
// image volumes have no records of their own: their instance's and
// image's records stand for them.
type VolumeRecord struct {
	Pool        string            `json:"pool"`
	Project     string            `json:"project,omitempty"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Config      map[string]string `json:"config"`
	ContentType ContentType       `json:"content_type"`
	CreatedAt   time.Time         `json:"created_at"`
	// RenamedFrom marks a rename under way (see RenameCustomVolume).
	RenamedFrom string `json:"renamed_from,omitempty"`
	// Refreshing marks a refresh under way (see refreshVolume).
	Refreshing bool `json:"refreshing,omitempty"`
}

// Volume is the volume the record stands for.
func (r VolumeRecord) Volume() Volume {
	return Volume{Pool: r.Pool, Project: project.Name(r.Project), Type: TypeCustom, Name: r.Name, Content: r.ContentType}
}

// volumeKey is a custom volume's store key: "<pool>/custom/<project key>".
func volumeKey(pool, proj, name string) string {
	return pool + "/" + string(TypeCustom) + "/" + project.StoreKey(proj, name)
}

// CreateCustomVolume makes an empty custom volume on pool: its volume, then
// its record; a failure takes the volume back.
func (p *Pools) CreateCustomVolume(r VolumeRecord) error {
	if err := validate.PoolName(r.Name); err != nil {
		return apierr.BadRequest("volume name %q is invalid: use letters, digits, '-', '_' and '.'", r.Name)
	}
	if r.ContentType == "" {
		r.ContentType = ContentFilesystem
	}
	if r.ContentType != ContentFilesystem && r.ContentType != ContentBlock {
		return apierr.BadRequest("volume %q: content type %q is not filesystem or block", r.Name, r.ContentType)
	}
	if r.Config == nil {
		r.Config = map[string]string{}
	}
	r.Project = project.Name(r.Project)
	defer p.Hold()()
	d, err := p.Get(r.Pool)
	if err != nil {
		return err
	}
	caps := d.Capabilities()
	if !slices.Contains(caps.VolumeTypes, TypeCustom) || (r.ContentType == ContentBlock && !caps.BlockVolumes) {
		return apierr.BadRequest("storage pool %q (driver %s) cannot hold custom %s volumes", r.Pool, d.Name(), r.ContentType)
	}
	if err := p.admit(d, r); err != nil {
		return err
	}
	key := volumeKey(r.Pool, r.Project, r.Name)
	defer p.volumeLocks.Lock(key)()
	if p.db.Has(store.Volumes, key) {
		return apierr.Conflict("storage volume %q already exists on pool %q", r.Name, r.Pool)
	}
	var rv revert.Reverter
	if err := d.CreateEmptyVolume(r.Volume()); err != nil {
		return fmt.Errorf("create volume %q: %w", r.Name, err)
	}
	rv.Add("the new volume", func() error { return d.DeleteVolume(r.Volume()) })
	if err := SetVolumeSize(d, r.Volume(), r.Config["size"]); err != nil {
		return rv.Fail(fmt.Errorf("volume %q: %w", r.Name, err))
	}
	r.CreatedAt = time.Now().UTC()
	if err := p.db.Update(func(tx *store.Tx) error { return tx.Create(store.Volumes, key, r) }); err != nil {
		return rv.Fail(err)
	}
	rv.Success()
	return nil
}

// SetVolumeLimits sets the check of a custom volume, new or with a new
// config, against its project's limits; every path that makes or resizes
// one (create, copy, import, update) asks it.
func (p *Pools) SetVolumeLimits(check func(proj string, v VolumeRecord) error) {
	p.volumeLimits = check
}

// admit checks volume v, about to be made or changed, on driver d: its
// config, then its project's limits.
func (p *Pools) admit(d Driver, v VolumeRecord) error {
	if err := checkVolumeConfig(d, v.Pool, v.Name, v.Config); err != nil {
		return err
	}
	if p.volumeLimits != nil {
		return p.volumeLimits(v.Project, v)
	}
	return nil
}

// checkVolumeConfig refuses config keys a custom volume does not take,
// values that do not parse, and a size the pool's driver cannot enforce.
func checkVolumeConfig(d Driver, pool, name string, config map[string]string) error {
	for k, v := range config {
		var err error
		switch k {
		case "size", "snapshots.pattern":
		case "snapshots.schedule":
			_, err = cron.ParseTriggers(v)
		case "snapshots.expiry":
			_, err = cron.ParseExpiry(v)
		default:
			return apierr.BadRequest("volume %q: config key %q is not supported (custom volumes take size, snapshots.schedule, snapshots.expiry and snapshots.pattern)", name, k)
		}
		if err != nil {
			return apierr.BadRequest("volume %q: %s: %v", name, k, err)
		}
	}
	if _, err := ParseVolumeSize(d, pool, config["size"]); err != nil {
		return apierr.BadRequest("volume %q: %v", name, err)
	}
	return nil
}

// CustomVolume reads a custom volume's record and revision.
func (p *Pools) CustomVolume(pool, proj, name string) (VolumeRecord, uint64, error) {
	r, rev, err := store.Get[VolumeRecord](p.db, store.Volumes, volumeKey(pool, proj, name))
	if err != nil {
		return r, 0, apierr.NotFound("storage volume %q on pool %q", name, pool)
	}
	if r.Config == nil {
		r.Config = map[string]string{}
	}
	return r, rev, nil
}

// CustomVolumes lists a pool's custom volumes.
func (p *Pools) CustomVolumes(pool string) ([]VolumeRecord, error) {
	var out []VolumeRecord
	err := p.db.View(func(tx *store.Tx) error {
		for _, k := range tx.KeysWithPrefix(store.Volumes, pool+"/"+string(TypeCustom)+"/") {
			var r VolumeRecord
			if _, err := tx.Get(store.Volumes, k, &r); err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// UpdateCustomVolume replaces a custom volume's description and config.
func (p *Pools) UpdateCustomVolume(pool, proj, name, description string, config map[string]string, ifRev uint64) error {
	d, err := p.Get(pool)
	if err != nil {
		return err
	}
	key := volumeKey(pool, proj, name)
	defer p.volumeLocks.Lock(key)()
	r, _, err := p.CustomVolume(pool, proj, name)
	if err != nil {
		return err
	}
	if err := p.admit(d, VolumeRecord{Pool: pool, Project: proj, Name: name, Config: config}); err != nil {
		return err
	}
	oldSize := r.Config["size"]
	if config == nil {
		config = map[string]string{}
	}
	if config["size"] != oldSize {
		// A size the volume cannot take (it holds more) is refused
		// before the record changes; a failed commit puts the old back.
		if err := SetVolumeSize(d, r.Volume(), config["size"]); err != nil {
			return apierr.BadRequest("volume %q: %v", name, err)
		}
	}
	r.Description, r.Config = description, config
	err = p.db.Update(func(tx *store.Tx) error {
		_, err := tx.Put(store.Volumes, key, r, ifRev)
		return err
	})
	if err != nil && config["size"] != oldSize {
		_ = SetVolumeSize(d, r.Volume(), oldSize)
	}
	return err
}

// DeleteCustomVolumeUnused deletes a custom volume once nothing holds the
// pools, if inUse (asked then) finds nothing attaching it: an attach holds
// the pools while it commits, so it lands before (and the delete is
// refused) or after (and finds no volume).
func (p *Pools) DeleteCustomVolumeUnused(pool, proj, name string, inUse func() ([]string, error)) error {
	p.use.Lock()
	defer p.use.Unlock()
	users, err := inUse()
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return apierr.BadRequest("storage volume %q is in use by %s: detach it first", name, strings.Join(users, ", "))
	}
	return p.DeleteCustomVolume(pool, proj, name)
}

// DeleteCustomVolume removes a custom volume the caller found unused: its
// record, then its data (start-up removes data a crash left without a
// record).
func (p *Pools) DeleteCustomVolume(pool, proj, name string) error {
	key := volumeKey(pool, proj, name)
	defer p.volumeLocks.Lock(key)()
	r, _, err := p.CustomVolume(pool, proj, name)
	if err != nil {
		return err
	}
	d, err := p.Get(pool)
	if err != nil {
		return err
	}
	if err := p.db.Update(func(tx *store.Tx) error { return dropVolumeRecords(tx, key) }); err != nil {
		return err
	}
	_ = os.RemoveAll(p.volumeBackupsDir(r.Volume()))
	return d.DeleteVolume(r.Volume())
}

// CustomVolumePath is where a custom filesystem volume's files are, for a
// disk device to mount.
func (p *Pools) CustomVolumePath(pool, proj, name string) (string, error) {
	r, _, err := p.CustomVolume(pool, proj, name)
	if err != nil {
		return "", err
	}
	if r.ContentType != ContentFilesystem {
		return "", apierr.BadRequest("storage volume %q on pool %q is a block volume; containers take filesystem volumes", name, pool)
	}
	d, err := p.Get(pool)
	if err != nil {
		return "", err
	}
	if err := d.MountVolume(r.Volume()); err != nil {
		return "", err
	}
	return d.VolumePath(r.Volume()), nil
}

// RepairCustomVolumes removes, on every pool, custom volumes without a
// record (a create or a delete that a crash cut short) and reports
// records whose volume is gone.
func (p *Pools) RepairCustomVolumes(log *slog.Logger) {
	defer p.repairVolumeBackups(log)
	p.Each(func(pool string, d Driver, err error) {
		if err != nil || !slices.Contains(d.Capabilities().VolumeTypes, TypeCustom) {
			return
		}
		records, err := p.CustomVolumes(pool)
		if err != nil {
			return
		}
		p.repairRenames(log, pool, d, records)
		if records, err = p.CustomVolumes(pool); err != nil {
			return
		}
		for _, r := range records {
			p.repairRefresh(log, d, r)
			p.repairVolumeSnapshots(log, d, r)
		}
		known := map[string]bool{}
		for _, r := range records {
			known[r.Volume().StorageName()] = true
		}
		names, err := d.VolumeNames(TypeCustom)
		if err != nil {
			log.Error("repair: list custom volumes", "pool", pool, "err", err)
			return
		}
		onDisk := map[string]bool{}
		for _, n := range names {
			onDisk[n] = true
			if !known[n] {
				log.Warn("repair: removing a custom volume without a record", "pool", pool, "volume", n)
				_ = d.DeleteVolume(Volume{Pool: pool, Project: project.Default, Type: TypeCustom, Name: n})
			}
		}
		for _, r := range records {
			if !onDisk[r.Volume().StorageName()] {
				log.Error("custom volume has no data on disk", "pool", pool, "volume", r.Name)
			}
		}
	})
}

// repairVolumeSnapshots completes a restore a crash cut short and matches
// a custom volume's snapshots to their records: a snapshot without a
// record (a create cut short) goes, a record without a snapshot (a delete
// cut short) goes.
func (p *Pools) repairVolumeSnapshots(log *slog.Logger, d Driver, r VolumeRecord) {
	if what, err := d.RepairVolume(r.Volume()); err != nil || what != "" {
		log.Warn("repair: custom volume: "+what, "pool", r.Pool, "volume", r.Name, "err", err)
	}
	onDisk, err := d.SnapshotNames(r.Volume())
	if err != nil {
		return
	}
	key := volumeKey(r.Pool, r.Project, r.Name)
	recorded := map[string]bool{}
	_ = p.db.View(func(tx *store.Tx) error {
		for _, k := range tx.KeysWithPrefix(store.VolumeSnapshots, key+"/") {
			recorded[strings.TrimPrefix(k, key+"/")] = true
		}
		return nil
	})
	for _, s := range onDisk {
		if !recorded[s] {
			log.Warn("repair: removing a custom volume snapshot without a record", "pool", r.Pool, "volume", r.Name, "snapshot", s)
			_ = d.DeleteSnapshot(r.Volume(), s)
		}
		delete(recorded, s)
	}
	for s := range recorded {
		log.Warn("repair: dropping the record of a custom volume snapshot without data", "pool", r.Pool, "volume", r.Name, "snapshot", s)
		_ = p.db.Update(func(tx *store.Tx) error { return tx.Delete(store.VolumeSnapshots, key+"/"+s) })
	}
}
