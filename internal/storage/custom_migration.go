package storage

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/backup"
	"github.com/lodge-project/lodge/internal/crashpoint"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/migration"
	"github.com/lodge-project/lodge/internal/store"
	"github.com/lodge-project/lodge/internal/validate"
)

// Custom volumes between hosts, in LXD's migration protocol (package
// migration), as an instance's volume goes: the index header is the
// volume's backup config, the trees are the volume's own files (there is
// no rootfs/ in a custom volume), or the pool driver's streams when both
// ends have the same driver.

// CustomVolumeMigrationSource describes custom volume name on pool to the
// migration protocol, with its snapshots unless volumeOnly.
func (p *Pools) CustomVolumeMigrationSource(pool, proj, name string, volumeOnly bool) (*migration.Source, error) {
	rec, _, err := p.CustomVolume(pool, proj, name)
	if err != nil {
		return nil, err
	}
	if rec.ContentType != ContentFilesystem {
		return nil, apierr.BadRequest("storage volume %q is a block volume: only filesystem volumes go to another host", name)
	}
	d, err := p.Get(pool)
	if err != nil {
		return nil, err
	}
	var snaps []VolumeSnapshotRecord
	if !volumeOnly {
		if snaps, err = p.CustomVolumeSnapshots(pool, proj, name); err != nil {
			return nil, err
		}
	}
	idx, err := p.volumeIndex(d, rec, snaps)
	if err != nil {
		return nil, err
	}
	src := &migration.Source{Info: migration.Info{Config: idx.Config}}
	for _, s := range snaps {
		src.Snapshots = append(src.Snapshots, migration.Snapshot{Name: s.Name, LocalConfig: copyConfig(s.Config),
			CreationDate: unixOrNil(s.CreatedAt), ExpiryDate: unixOrNil(s.ExpiresAt)})
	}
	v := rec.Volume()
	if st, ok := d.(Streamer); ok {
		src.Driver = d.Name()
		src.Stream = func(ctx context.Context, snap, parent string, w io.Writer) error {
			defer p.Hold()()
			_, err := st.WriteStream(ctx, v, StreamSpec{Snapshot: snap, Parent: parent}, w)
			return err
		}
		src.StreamUUID = func(snap string) (string, error) { return st.StreamID(v, snap) }
	}
	src.Tree = func(ctx context.Context, snap string, send func(dir string) error) error {
		defer p.Hold()()
		if snap != "" {
			return d.ViewSnapshot(ctx, v, snap, send)
		}
		crashpoint.Hit("volume.migration.sending")
		if err := d.MountVolume(v); err != nil {
			return err
		}
		return send(d.VolumePath(v))
	}
	return src, nil
}

func unixOrNil(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	u := t.Unix()
	return &u
}

// PrepareCustomVolumeMigration checks a request that makes custom volume
// req.Name on pool from another host's, and returns the sink that makes
// it as the protocol delivers it.
func (p *Pools) PrepareCustomVolumeMigration(pool, proj string, req api.StorageVolumesPost) (*migration.Sink, error) {
	if err := validate.PoolName(req.Name); err != nil || IsLeftoverName(req.Name) {
		return nil, apierr.BadRequest("volume name %q is invalid: use letters, digits, '-', '_' and '.'", req.Name)
	}
	if ct := req.ContentType; ct != "" && ct != string(ContentFilesystem) {
		return nil, apierr.BadRequest("volume %q: only filesystem volumes come from another host, not %s ones", req.Name, ct)
	}
	d, err := p.Get(pool)
	if err != nil {
		return nil, err
	}
	rec := VolumeRecord{Pool: pool, Project: proj, Name: req.Name, Description: req.Description,
		Config: takenVolumeConfig(req.Config), ContentType: ContentFilesystem}
	if err := p.admit(d, rec); err != nil {
		return nil, err
	}
	if p.db.Has(store.Volumes, volumeKey(pool, proj, req.Name)) {
		return nil, apierr.Conflict("storage volume %q already exists on pool %q", req.Name, pool)
	}
	sink := &migration.Sink{Make: func(ctx context.Context, in *migration.Incoming) error {
		return p.receiveVolume(ctx, d, rec, in)
	}}
	if _, ok := d.(Streamer); ok {
		sink.Driver = d.Name()
	}
	return sink, nil
}

// takenVolumeConfig is what of another host's volume config a custom
// volume here takes: its size and snapshot settings; LXD's driver and
// volatile keys stay behind.
func takenVolumeConfig(cfg map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range cfg {
		if k == "size" || strings.HasPrefix(k, "snapshots.") {
			out[k] = v
		}
	}
	return out
}

// receiveVolume makes the volume and its snapshots from what arrives,
// each tree checked before it is sealed, then records them in one
// transaction; a failure leaves no volume.
func (p *Pools) receiveVolume(ctx context.Context, d Driver, rec VolumeRecord, in *migration.Incoming) (err error) {
	snapRecs, err := migratedVolumeSnapshots(rec, in)
	if err != nil {
		return err
	}
	defer p.Hold()()
	key, release, err := p.claimNewVolume(d, rec)
	if err != nil {
		return err
	}
	defer func() { release(err != nil) }()
	v := rec.Volume()
	settle := func(dir, what string) error { return settleVolumeTree(dir, "the source's "+what) }
	if in.Streams {
		i := 0
		next := func() (VolumeStream, error) {
			switch {
			case i < len(in.Snapshots):
				i++
				return VolumeStream{Snapshot: in.Snapshots[i-1].Name, R: in.NextStream()}, nil
			case i == len(in.Snapshots):
				i++
				return VolumeStream{R: in.NextStream()}, nil
			}
			return VolumeStream{}, io.EOF
		}
		err = d.(Streamer).ReceiveStreams(ctx, v, next, func(dir, snap string) error {
			return settle(dir, "volume "+snap)
		})
		if err != nil {
			return err
		}
	} else {
		if err := d.CreateEmptyVolume(v); err != nil {
			return err
		}
		dir := d.VolumePath(v)
		for _, s := range in.Snapshots {
			if err := receiveVolumeTree(ctx, in, dir, "snapshot "+s.Name, settle); err != nil {
				return err
			}
			if err := d.CreateSnapshot(ctx, v, s.Name); err != nil {
				return fmt.Errorf("snapshot %q: %w", s.Name, err)
			}
		}
		if err := receiveVolumeTree(ctx, in, dir, "volume", settle); err != nil {
			return err
		}
	}
	crashpoint.Hit("volume.migration.received")
	if err := SetVolumeSize(d, v, rec.Config["size"]); err != nil {
		return err
	}
	rec.CreatedAt = time.Now().UTC()
	return p.recordVolume(key, rec, snapRecs)
}

// receiveVolumeTree receives the next tree into the volume at dir, in
// rsync's sandbox, and settles it.
func receiveVolumeTree(ctx context.Context, in *migration.Incoming, dir, what string, settle func(dir, what string) error) error {
	if err := in.Receive(ctx, dir, ""); err != nil {
		return fmt.Errorf("receive the source's %s: %w", what, err)
	}
	return settle(dir, what)
}

// migratedVolumeSnapshots are the records of the snapshots the source
// sends, described by the index header when it sent one.
func migratedVolumeSnapshots(rec VolumeRecord, in *migration.Incoming) ([]VolumeSnapshotRecord, error) {
	described := map[string]*backup.VolumeSnapshot{}
	if in.Info != nil && in.Info.Config != nil {
		for _, s := range in.Info.Config.VolumeSnapshots {
			if s != nil {
				described[s.Name] = s
			}
		}
	}
	seen := map[string]bool{}
	now := time.Now().UTC()
	var out []VolumeSnapshotRecord
	for _, s := range in.Snapshots {
		if err := checkVolumeSnapName(s.Name); err != nil {
			return nil, apierr.BadRequest("the source's snapshot: %v", err)
		}
		if seen[s.Name] {
			return nil, apierr.BadRequest("the source sends snapshot %q twice", s.Name)
		}
		seen[s.Name] = true
		r := VolumeSnapshotRecord{Pool: rec.Pool, Project: rec.Project, Volume: rec.Name, Name: s.Name,
			Config: copyConfig(rec.Config), CreatedAt: unixTimeOr(s.CreationDate, now), ExpiresAt: unixTimeOr(s.ExpiryDate, time.Time{})}
		if i := described[s.Name]; i != nil {
			r.Description = i.Description
			if i.ExpiresAt != nil && !i.ExpiresAt.IsZero() {
				r.ExpiresAt = i.ExpiresAt.UTC()
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// unixTimeOr reads a protocol date; none, or LXD's zero time, is def.
func unixTimeOr(t *int64, def time.Time) time.Time {
	if t == nil || *t <= 0 {
		return def
	}
	return time.Unix(*t, 0).UTC()
}

// claimNewVolume holds the key of new volume rec, refusing a name that
// is taken, until release, which first deletes the volume from d when
// what made it failed.
func (p *Pools) claimNewVolume(d Driver, rec VolumeRecord) (key string, release func(failed bool), err error) {
	key = volumeKey(rec.Pool, rec.Project, rec.Name)
	unlock := p.volumeLocks.Lock(key)
	if p.db.Has(store.Volumes, key) {
		unlock()
		return "", nil, apierr.Conflict("storage volume %q already exists on pool %q", rec.Name, rec.Pool)
	}
	return key, func(failed bool) {
		if failed {
			_ = d.DeleteVolume(rec.Volume())
		}
		unlock()
	}, nil
}

// settleVolumeTree makes a tree that came from outside (a backup, another
// host) safe in a custom volume, in one walk: no device nodes, no owner
// beyond the ids a volume may hold (its files are on no map). what names
// it in the error.
func settleVolumeTree(dir, what string) error {
	if err := idmap.SettleImported(dir, nil, nil, nil); err != nil {
		return apierr.BadRequest("%s: %v", what, err)
	}
	return os.Chmod(dir, 0o711)
}

// recordVolume records a new volume and its snapshots in one transaction.
func (p *Pools) recordVolume(key string, rec VolumeRecord, snaps []VolumeSnapshotRecord) error {
	return p.db.Update(func(tx *store.Tx) error {
		if err := tx.Create(store.Volumes, key, rec); err != nil {
			return err
		}
		for _, s := range snaps {
			if err := tx.Create(store.VolumeSnapshots, key+"/"+s.Name, s); err != nil {
				return err
			}
		}
		return nil
	})
}
