package instance

import (
	"context"
	"fmt"
	"github.com/lodge-project/lodge/internal/cron"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/crashpoint"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/revert"
	"github.com/lodge-project/lodge/internal/snapname"
	"github.com/lodge-project/lodge/internal/store"
)

// SnapshotRecord is a snapshot as the store keeps it: the instance's
// config at the time, next to its copy of the volume.
type SnapshotRecord struct {
	Instance     string                       `json:"instance"`
	Name         string                       `json:"name"`
	Architecture string                       `json:"architecture"`
	Description  string                       `json:"description"`
	Config       map[string]string            `json:"config"`
	Devices      map[string]map[string]string `json:"devices"`
	Profiles     []string                     `json:"profiles"`
	Ephemeral    bool                         `json:"ephemeral"`
	CreatedAt    time.Time                    `json:"created_at"`
	ExpiresAt    time.Time                    `json:"expires_at"`
	// Files says which id map the snapshot's files are on; nil in records
	// written before it was kept.
	Files *SnapshotFiles `json:"files,omitempty"`
}

// SnapshotFiles is the id map a snapshot's files are shifted to (nil:
// privileged, unshifted).
type SnapshotFiles struct {
	IDMap *idmap.Map `json:"idmap"`
}

// filesIDMap is the id map the snapshot's files are on: the recorded one,
// or else the instance's, the only one older records knew of.
func (r SnapshotRecord) filesIDMap(instance *idmap.Map) *idmap.Map {
	if r.Files == nil {
		return instance
	}
	return r.Files.IDMap
}

func snapKey(name, snap string) string { return name + "/" + snap }

var snapshotName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._:-]*$`)

func validateSnapshotName(snap string) error {
	if snap == "" || len(snap) > 63 || !snapshotName.MatchString(snap) {
		return apierr.BadRequest("snapshot name %q is invalid: use letters, digits, '.', '_', '-' or ':' (no '/')", snap)
	}
	return nil
}

func (s *Service) renderSnapshot(tx *store.Tx, r SnapshotRecord) api.InstanceSnapshot {
	proj, _ := project.SplitKey(r.Instance)
	ps, _ := s.profiles(tx, proj, r.Profiles)
	e := expand(Record{Config: r.Config, Devices: r.Devices}, ps)
	return api.InstanceSnapshot{Architecture: r.Architecture, Config: nonNil(r.Config), CreatedAt: r.CreatedAt,
		Devices: nonNilDevices(r.Devices), Ephemeral: r.Ephemeral, ExpandedConfig: e.Config, ExpandedDevices: e.Devices,
		Name: r.Name, Profiles: r.Profiles, ExpiresAt: r.ExpiresAt, Description: r.Description}
}

// Snapshots lists an instance's snapshots, oldest first.
func (s *Service) Snapshots(name string) ([]api.InstanceSnapshot, error) {
	var out []api.InstanceSnapshot
	err := s.db.View(func(tx *store.Tx) error {
		if !tx.Exists(store.Instances, name) {
			return apierr.NotFound("instance %q", name)
		}
		for _, k := range tx.KeysWithPrefix(store.Snapshots, name+"/") {
			var r SnapshotRecord
			if _, err := tx.Get(store.Snapshots, k, &r); err != nil {
				return err
			}
			out = append(out, s.renderSnapshot(tx, r))
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	if out == nil {
		out = []api.InstanceSnapshot{}
	}
	return out, err
}

// Snapshot returns one snapshot.
func (s *Service) Snapshot(name, snap string) (api.InstanceSnapshot, uint64, error) {
	var out api.InstanceSnapshot
	var rev uint64
	err := s.db.View(func(tx *store.Tx) error {
		var r SnapshotRecord
		var err error
		if rev, err = tx.Get(store.Snapshots, snapKey(name, snap), &r); err != nil {
			return err
		}
		out = s.renderSnapshot(tx, r)
		return nil
	})
	return out, rev, err
}

// CreateSnapshot copies the instance's volume and records its config. An
// empty snap name follows snapshots.pattern; a nil expiry follows
// snapshots.expiry.
func (s *Service) CreateSnapshot(ctx context.Context, name, snap string, expiresAt *time.Time) (string, error) {
	defer s.lock(name)()
	return s.createSnapshot(ctx, name, snap, expiresAt)
}

func (s *Service) createSnapshot(ctx context.Context, name, snap string, expiresAt *time.Time) (string, error) {
	e, _, err := s.load(name)
	if err != nil {
		return "", err
	}
	if err := s.checkSnapshotsAllowed(name); err != nil {
		return "", err
	}
	now := time.Now().UTC()
	if snap == "" {
		if snap, err = s.nextSnapshotName(name, e.Config["snapshots.pattern"], now); err != nil {
			return "", err
		}
	}
	if err := validateSnapshotName(snap); err != nil {
		return "", err
	}
	rec := SnapshotRecord{Instance: name, Name: snap, Architecture: e.Architecture, Config: copyMap(e.Record.Config),
		Devices: e.Record.Devices, Profiles: e.Profiles, Ephemeral: e.Ephemeral, CreatedAt: now, Files: &SnapshotFiles{IDMap: e.IDMap}}
	if expiresAt != nil {
		rec.ExpiresAt = *expiresAt
	} else if v := e.Config["snapshots.expiry"]; v != "" {
		d, err := cron.ParseExpiry(v)
		if err != nil {
			return "", apierr.BadRequest("snapshots.expiry: %v", err)
		}
		rec.ExpiresAt = now.Add(d)
	}
	exists := false
	_ = s.db.View(func(tx *store.Tx) error { exists = tx.Exists(store.Snapshots, snapKey(name, snap)); return nil })
	if exists {
		return "", apierr.Conflict("snapshot %q of %q already exists", snap, name)
	}
	pool, vol, err := s.poolOf(e)
	if err != nil {
		return "", err
	}
	if err := pool.CreateSnapshot(ctx, vol, snap); err != nil {
		return "", err
	}
	var r revert.Reverter
	r.Add("the snapshot's copy", func() error { return pool.DeleteSnapshot(vol, snap) })
	if err := s.db.Update(func(tx *store.Tx) error { return tx.Create(store.Snapshots, snapKey(name, snap), rec) }); err != nil {
		return "", r.Fail(err)
	}
	r.Success()
	s.bus.Lifecycle("instance-snapshot-created", instanceURL(name, "/snapshots/"+snap), nil)
	return snap, nil
}

// nextSnapshotName expands snapshots.pattern (package snapname) against
// the instance's snapshots.
func (s *Service) nextSnapshotName(name, pattern string, now time.Time) (string, error) {
	taken := map[string]bool{}
	_ = s.db.View(func(tx *store.Tx) error {
		for _, k := range tx.KeysWithPrefix(store.Snapshots, name+"/") {
			taken[strings.TrimPrefix(k, name+"/")] = true
		}
		return nil
	})
	return snapname.Next(pattern, now, func(n string) bool { return taken[n] }), nil
}

// DeleteSnapshot removes a snapshot's record, then its copy.
func (s *Service) DeleteSnapshot(name, snap string) error {
	defer s.lock(name)()
	return s.deleteSnapshot(name, snap)
}

func (s *Service) deleteSnapshot(name, snap string) error {
	if err := s.db.Update(func(tx *store.Tx) error { return tx.Delete(store.Snapshots, snapKey(name, snap)) }); err != nil {
		return err
	}
	if pool, vol, err := s.poolFor(name); err != nil {
		s.log.Warn("delete snapshot volume", "instance", name, "snapshot", snap, "err", err)
	} else if err := pool.DeleteSnapshot(vol, snap); err != nil {
		s.log.Warn("delete snapshot volume", "instance", name, "snapshot", snap, "err", err)
	}
	s.bus.Lifecycle("instance-snapshot-deleted", instanceURL(name, "/snapshots/"+snap), nil)
	return nil
}

// RenameSnapshot renames a snapshot.
func (s *Service) RenameSnapshot(name, snap, newName string) error {
	if err := validateSnapshotName(newName); err != nil {
		return err
	}
	defer s.lock(name)()
	var r SnapshotRecord
	err := s.db.View(func(tx *store.Tx) error {
		if _, err := tx.Get(store.Snapshots, snapKey(name, snap), &r); err != nil {
			return err
		}
		if tx.Exists(store.Snapshots, snapKey(name, newName)) {
			return apierr.Conflict("snapshot %q of %q already exists", newName, name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	pool, vol, err := s.poolFor(name)
	if err != nil {
		return err
	}
	if err := pool.RenameSnapshot(vol, snap, newName); err != nil {
		return err
	}
	r.Name = newName
	err = s.db.Update(func(tx *store.Tx) error {
		if err := tx.Create(store.Snapshots, snapKey(name, newName), r); err != nil {
			return err
		}
		return tx.Delete(store.Snapshots, snapKey(name, snap))
	})
	if err != nil {
		_ = pool.RenameSnapshot(vol, newName, snap)
		return err
	}
	s.bus.Lifecycle("instance-snapshot-renamed", instanceURL(name, "/snapshots/"+newName), map[string]any{"old_name": snap})
	return nil
}

// UpdateSnapshot changes a snapshot's expiry and description; the rest of
// a snapshot is immutable.
func (s *Service) UpdateSnapshot(name, snap string, put api.InstanceSnapshotPut, ifRev uint64) error {
	return s.db.Update(func(tx *store.Tx) error {
		var r SnapshotRecord
		if _, err := tx.Get(store.Snapshots, snapKey(name, snap), &r); err != nil {
			return err
		}
		r.ExpiresAt, r.Description = put.ExpiresAt, put.Description
		_, err := tx.Put(store.Snapshots, snapKey(name, snap), r, ifRev)
		return err
	})
}

// RestoreSnapshot brings back a snapshot's volume and config. A running
// instance is stopped first and started again after. The snapshot's copy is
// made first; the records and the intent to swap it in are committed
// together; then the copy is swapped in. A crash at any point leaves either
// the instance as it was or, at the next start-up, as restored (see intent).
func (s *Service) RestoreSnapshot(ctx context.Context, name, snap string) error {
	defer s.lock(name)()
	r, _, err := store.Get[SnapshotRecord](s.db, store.Snapshots, snapKey(name, snap))
	if err != nil {
		return apierr.BadRequest("snapshot %q of %q does not exist", snap, name)
	}
	pool, vol, err := s.poolFor(name)
	if err != nil {
		return err
	}
	running := false
	if st, _ := s.status(name); st != runtime.StateStopped {
		running = true
		if err := s.stop(ctx, name, false, -1); err != nil {
			return err
		}
	}
	in := intent{Op: intentRestore, Instance: name, Snapshot: snap, Phase: phaseCopy}
	if err := s.db.Update(func(tx *store.Tx) error { return putIntent(tx, in) }); err != nil {
		return err
	}
	if err := pool.PrepareRestore(ctx, vol, snap); err != nil {
		_ = pool.CancelRestore(vol)
		_ = s.db.Update(func(tx *store.Tx) error { return dropIntent(tx, name) })
		return err
	}
	crashpoint.Hit("restore.prepared")
	var inst Record
	err = s.db.Update(func(tx *store.Tx) error {
		if _, err := tx.Get(store.Instances, name, &inst); err != nil {
			return err
		}
		cur := inst
		// The restored files are on the map of the snapshot's day.
		cur.IDMap = r.filesIDMap(inst.IDMap)
		cfg := copyMap(r.Config)
		for k, v := range inst.Config {
			if strings.HasPrefix(k, "volatile.") {
				cfg[k] = v
			}
		}
		cur.Config, cur.Devices, cur.Profiles, cur.Ephemeral = cfg, r.Devices, r.Profiles, r.Ephemeral
		if _, err := tx.Put(store.Instances, name, cur, 0); err != nil {
			return err
		}
		in.Phase = phaseSwap
		return putIntent(tx, in)
	})
	if err != nil {
		_ = pool.CancelRestore(vol)
		_ = s.db.Update(func(tx *store.Tx) error { return dropIntent(tx, name) })
		return err
	}
	crashpoint.Hit("restore.committed")
	if err := pool.FinishRestore(vol); err != nil {
		return fmt.Errorf("%w (the restore is recorded: lodged finishes it at its next start)", err)
	}
	_ = s.db.Update(func(tx *store.Tx) error { return dropIntent(tx, name) })
	// Shift the restored files to the instance's map now; if that fails,
	// the record says which map they are on, and the next start shifts them.
	onDisk := r.filesIDMap(inst.IDMap)
	if !idmap.Equal(onDisk, inst.IDMap) {
		if err := pool.RemapVolume(vol, onDisk, inst.IDMap); err != nil {
			s.log.Warn("restore: shifting the snapshot's files to the instance's id map failed; the next start retries", "instance", name, "snapshot", snap, "err", err)
		} else {
			_ = s.db.Update(func(tx *store.Tx) error {
				var cur Record
				if _, err := tx.Get(store.Instances, name, &cur); err != nil {
					return err
				}
				cur.IDMap = inst.IDMap
				_, err := tx.Put(store.Instances, name, cur, 0)
				return err
			})
		}
	}
	s.bus.Lifecycle("instance-restored", instanceURL(name), map[string]any{"snapshot": snap})
	if running {
		return s.start(ctx, name)
	}
	return nil
}

// snapshotKeys lists the store keys of an instance's snapshots.
func snapshotKeys(tx *store.Tx, name string) []string {
	return tx.KeysWithPrefix(store.Snapshots, name+"/")
}
