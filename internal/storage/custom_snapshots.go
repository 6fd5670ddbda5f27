package storage

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/cron"
	"github.com/lodge-project/lodge/internal/snapname"
	"github.com/lodge-project/lodge/internal/store"
)

// A custom volume's snapshot is the driver's snapshot of the volume and a
// record (bucket storage_volume_snapshots, "<volume key>/<snapshot>"). A
// create makes the snapshot, then the record; a delete drops the record,
// then the snapshot; start-up removes either half a crash left.

// VolumeSnapshotRecord is a custom volume snapshot as the store keeps it.
type VolumeSnapshotRecord struct {
	Pool        string            `json:"pool"`
	Project     string            `json:"project,omitempty"`
	Volume      string            `json:"volume"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Config      map[string]string `json:"config"`
	CreatedAt   time.Time         `json:"created_at"`
	ExpiresAt   time.Time         `json:"expires_at"`
}

func volumeSnapKey(pool, proj, volume, snap string) string {
	return volumeKey(pool, proj, volume) + "/" + snap
}

var volumeSnapName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._:-]*$`)

// lockedVolume is custom volume name of pool, with its pool's driver,
// locked against other changes of it until unlock.
func (p *Pools) lockedVolume(pool, proj, name string) (Driver, VolumeRecord, func(), error) {
	d, err := p.Get(pool)
	if err != nil {
		return nil, VolumeRecord{}, nil, err
	}
	unlock := p.volumeLocks.Lock(volumeKey(pool, proj, name))
	v, _, err := p.CustomVolume(pool, proj, name)
	if err != nil {
		unlock()
		return nil, VolumeRecord{}, nil, err
	}
	return d, v, unlock, nil
}

func checkVolumeSnapName(snap string) error {
	if len(snap) > 63 || !volumeSnapName.MatchString(snap) || IsLeftoverName(snap) {
		return apierr.BadRequest("snapshot name %q is invalid: use letters, digits, '.', '_', '-' or ':'", snap)
	}
	return nil
}

// CustomVolumeSnapshots lists a custom volume's snapshots, oldest first.
func (p *Pools) CustomVolumeSnapshots(pool, proj, name string) ([]VolumeSnapshotRecord, error) {
	if _, _, err := p.CustomVolume(pool, proj, name); err != nil {
		return nil, err
	}
	out, err := store.ListPrefix[VolumeSnapshotRecord](p.db, store.VolumeSnapshots, volumeKey(pool, proj, name)+"/")
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, err
}

// CustomVolumeSnapshot reads one snapshot's record and revision.
func (p *Pools) CustomVolumeSnapshot(pool, proj, name, snap string) (VolumeSnapshotRecord, uint64, error) {
	r, rev, err := store.Get[VolumeSnapshotRecord](p.db, store.VolumeSnapshots, volumeSnapKey(pool, proj, name, snap))
	if err != nil {
		return r, 0, apierr.NotFound("snapshot %q of storage volume %q on pool %q", snap, name, pool)
	}
	return r, rev, nil
}

// CreateCustomVolumeSnapshot snapshots a custom volume. An empty name
// follows the volume's snapshots.pattern ("snap%d"), and a nil expiry its
// snapshots.expiry. It returns the name.
func (p *Pools) CreateCustomVolumeSnapshot(ctx context.Context, pool, proj, name, snap string, expires *time.Time) (string, error) {
	d, v, unlock, err := p.lockedVolume(pool, proj, name)
	if err != nil {
		return "", err
	}
	defer unlock()
	now := time.Now().UTC()
	if snap == "" {
		snap = snapname.Next(v.Config["snapshots.pattern"], now, func(n string) bool {
			return p.db.Has(store.VolumeSnapshots, volumeSnapKey(pool, proj, name, n))
		})
	}
	if err := checkVolumeSnapName(snap); err != nil {
		return "", err
	}
	var expiry time.Time
	if expires != nil {
		expiry = *expires
	} else if e := v.Config["snapshots.expiry"]; e != "" {
		dur, err := cron.ParseExpiry(e)
		if err != nil {
			return "", apierr.BadRequest("snapshots.expiry: %v", err)
		}
		expiry = now.Add(dur)
	}
	key := volumeSnapKey(pool, proj, name, snap)
	if p.db.Has(store.VolumeSnapshots, key) {
		return "", apierr.Conflict("snapshot %q of storage volume %q already exists", snap, name)
	}
	if err := d.CreateSnapshot(ctx, v.Volume(), snap); err != nil {
		return "", fmt.Errorf("snapshot storage volume %q: %w", name, err)
	}
	r := VolumeSnapshotRecord{Pool: pool, Project: v.Project, Volume: name, Name: snap, Config: copyConfig(v.Config),
		CreatedAt: now, ExpiresAt: expiry}
	if err := p.db.Update(func(tx *store.Tx) error { return tx.Create(store.VolumeSnapshots, key, r) }); err != nil {
		_ = d.DeleteSnapshot(v.Volume(), snap)
		return "", err
	}
	return snap, nil
}

// ScheduledVolumeSnapshots snapshots every custom volume whose
// snapshots.schedule fired in (from, to], and returns what it took and
// what failed, for the log.
func (p *Pools) ScheduledVolumeSnapshots(from, to time.Time) (taken []string, errs []error) {
	var due []VolumeRecord
	_ = p.db.View(func(tx *store.Tx) error {
		for _, k := range tx.Keys(store.Volumes) {
			var r VolumeRecord
			if _, err := tx.Get(store.Volumes, k, &r); err != nil || r.Config["snapshots.schedule"] == "" {
				continue
			}
			sched, err := cron.ParseTriggers(r.Config["snapshots.schedule"])
			if err != nil {
				continue
			}
			if next := sched.Next(from); !next.IsZero() && !next.After(to) {
				due = append(due, r)
			}
		}
		return nil
	})
	for _, r := range due {
		snap, err := p.CreateCustomVolumeSnapshot(context.Background(), r.Pool, r.Project, r.Name, "", nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("scheduled snapshot of storage volume %q on pool %q: %w", r.Name, r.Pool, err))
			continue
		}
		taken = append(taken, r.Pool+"/"+r.Name+"/"+snap)
	}
	return taken, errs
}

func copyConfig(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// DeleteCustomVolumeSnapshot drops a snapshot's record, then its data.
func (p *Pools) DeleteCustomVolumeSnapshot(pool, proj, name, snap string) error {
	d, v, unlock, err := p.lockedVolume(pool, proj, name)
	if err != nil {
		return err
	}
	defer unlock()
	key := volumeSnapKey(pool, proj, name, snap)
	err = p.db.Update(func(tx *store.Tx) error {
		if !tx.Exists(store.VolumeSnapshots, key) {
			return apierr.NotFound("snapshot %q of storage volume %q", snap, name)
		}
		return tx.Delete(store.VolumeSnapshots, key)
	})
	if err != nil {
		return err
	}
	return d.DeleteSnapshot(v.Volume(), snap)
}

// RenameCustomVolumeSnapshot renames a snapshot: its data, then its record
// (a failed commit moves the data back).
func (p *Pools) RenameCustomVolumeSnapshot(pool, proj, name, snap, newSnap string) error {
	if err := checkVolumeSnapName(newSnap); err != nil {
		return err
	}
	d, v, unlock, err := p.lockedVolume(pool, proj, name)
	if err != nil {
		return err
	}
	defer unlock()
	r, _, err := p.CustomVolumeSnapshot(pool, proj, name, snap)
	if err != nil {
		return err
	}
	if p.db.Has(store.VolumeSnapshots, volumeSnapKey(pool, proj, name, newSnap)) {
		return apierr.Conflict("snapshot %q of storage volume %q already exists", newSnap, name)
	}
	if err := d.RenameSnapshot(v.Volume(), snap, newSnap); err != nil {
		return err
	}
	r.Name = newSnap
	err = p.db.Update(func(tx *store.Tx) error {
		if err := tx.Delete(store.VolumeSnapshots, volumeSnapKey(pool, proj, name, snap)); err != nil {
			return err
		}
		return tx.Create(store.VolumeSnapshots, volumeSnapKey(pool, proj, name, newSnap), r)
	})
	if err != nil {
		_ = d.RenameSnapshot(v.Volume(), newSnap, snap)
	}
	return err
}

// UpdateCustomVolumeSnapshot replaces a snapshot's description and expiry.
func (p *Pools) UpdateCustomVolumeSnapshot(pool, proj, name, snap, description string, expires time.Time, ifRev uint64) error {
	return p.db.Update(func(tx *store.Tx) error {
		var r VolumeSnapshotRecord
		if _, err := tx.Get(store.VolumeSnapshots, volumeSnapKey(pool, proj, name, snap), &r); err != nil {
			return apierr.NotFound("snapshot %q of storage volume %q", snap, name)
		}
		r.Description, r.ExpiresAt = description, expires
		_, err := tx.Put(store.VolumeSnapshots, volumeSnapKey(pool, proj, name, snap), r, ifRev)
		return err
	})
}

// RestoreCustomVolume brings a custom volume back to a snapshot. The
// caller checks no running instance has it attached. The snapshot is
// copied beside the volume and swapped in; a crash in between leaves the
// volume as it was or restored, which start-up repair completes.
func (p *Pools) RestoreCustomVolume(ctx context.Context, pool, proj, name, snap string) error {
	d, v, unlock, err := p.lockedVolume(pool, proj, name)
	if err != nil {
		return err
	}
	defer unlock()
	if _, _, err := p.CustomVolumeSnapshot(pool, proj, name, snap); err != nil {
		return err
	}
	if err := d.PrepareRestore(ctx, v.Volume(), snap); err != nil {
		return err
	}
	if err := d.FinishRestore(v.Volume()); err != nil {
		return fmt.Errorf("restore storage volume %q: %w", name, err)
	}
	// A restored volume is a new one to drivers with quotas.
	return SetVolumeSize(d, v.Volume(), v.Config["size"])
}

// ExpireCustomVolumeSnapshots deletes snapshots whose expiry has passed.
func (p *Pools) ExpireCustomVolumeSnapshots(now time.Time) []error {
	var expired []VolumeSnapshotRecord
	_ = p.db.View(func(tx *store.Tx) error {
		for _, k := range tx.Keys(store.VolumeSnapshots) {
			var r VolumeSnapshotRecord
			if _, err := tx.Get(store.VolumeSnapshots, k, &r); err == nil && !r.ExpiresAt.IsZero() && r.ExpiresAt.Before(now) {
				expired = append(expired, r)
			}
		}
		return nil
	})
	var errs []error
	for _, r := range expired {
		if err := p.DeleteCustomVolumeSnapshot(r.Pool, r.Project, r.Volume, r.Name); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
