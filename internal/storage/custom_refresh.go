package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/crashpoint"
	"github.com/lodge-project/lodge/internal/migration"
	"github.com/lodge-project/lodge/internal/store"
)

// Refreshing a custom volume from another (lxc storage volume copy
// --refresh onto a volume the target has, on this host or from another):
// the target's snapshots the source does not have go first, as LXD does;
// then the source's snapshots the target lacks are added, oldest first,
// and the volume is brought to the source's files. The trees are written
// into the volume in place (rsync's deltas from another host, a copy
// here), so the volume is snapshotted first (refreshUndoSnapshot, which
// has no record). A failure, or a crash before the new snapshots' records
// are committed (the volume's record says Refreshing until then), puts
// that snapshot back and drops the snapshots the refresh made.
//
// Where a snapshot would copy the whole volume (dir, a Rebuilder), a
// refresh from another host that adds no snapshot, the common one, is
// instead received as a new tree beside the volume's, sharing its
// unchanged files: the undo is the old tree, set aside by a rename.

// refreshUndoSnapshot is a name no user's snapshot can have (they start
// with a letter or a digit).
const refreshUndoSnapshot = ".lodge-refresh-undo"

// refreshFill writes snapshot snap's tree ("": the volume's) into the
// volume's directory dir.
type refreshFill func(ctx context.Context, snap, dir string) error

// rebuildFill writes the volume's tree into workspace/new, beside the
// tree it had in workspace/old (see Rebuilder).
type rebuildFill func(ctx context.Context, workspace string) error

// refreshVolume refreshes custom volume name: prune goes, add comes (each
// filled in turn), then the volume is filled. A refresh that adds no
// snapshot, on a Rebuilder, rebuilds the volume with rebuild, when given,
// instead: its undo is the tree it had, kept aside, not a snapshot.
func (p *Pools) refreshVolume(ctx context.Context, pool, proj, name string, prune []string, add []VolumeSnapshotRecord, fill refreshFill, rebuild rebuildFill) (err error) {
	defer p.Hold()()
	for _, s := range prune {
		if err := p.DeleteCustomVolumeSnapshot(pool, proj, name, s); err != nil && !errors.Is(err, apierr.ErrNotFound) {
			return fmt.Errorf("refresh: delete snapshot %q, which the source does not have: %w", s, err)
		}
	}
	d, rec, unlock, err := p.lockedVolume(pool, proj, name)
	if err != nil {
		return err
	}
	defer unlock()
	key := volumeKey(pool, proj, name)
	if err := p.setRefreshing(key, true); err != nil {
		return err
	}
	v := rec.Volume()
	var made []string
	defer func() {
		if err == nil {
			return
		}
		for _, s := range made {
			_ = d.DeleteSnapshot(v, s)
		}
		if uerr := undoVolumeRefresh(context.WithoutCancel(ctx), d, v); uerr != nil {
			err = fmt.Errorf("%w (and putting the volume back failed: %v; lodged tries again at its next start)", err, uerr)
			return
		}
		_ = p.setRefreshing(key, false)
	}()
	rb, rebuilt := d.(Rebuilder)
	if rebuilt = rebuilt && rebuild != nil && len(add) == 0; rebuilt {
		ws, err := rb.BeginRebuild(v)
		if err != nil {
			return fmt.Errorf("refresh: %w", err)
		}
		if err := rebuild(ctx, ws); err != nil {
			return err
		}
		if err := rb.FinishRebuild(v); err != nil {
			return err
		}
	} else if err := p.refreshInPlace(ctx, d, v, add, fill, &made); err != nil {
		return err
	}
	crashpoint.Hit("volume.refresh.filled")
	err = p.db.Update(func(tx *store.Tx) error {
		for _, s := range add {
			s.Pool, s.Project, s.Volume = pool, rec.Project, name
			if err := tx.Create(store.VolumeSnapshots, key+"/"+s.Name, s); err != nil {
				return err
			}
		}
		var cur VolumeRecord
		if _, err := tx.Get(store.Volumes, key, &cur); err != nil {
			return err
		}
		cur.Refreshing = false
		_, err := tx.Put(store.Volumes, key, cur, 0)
		return err
	})
	if err != nil {
		return err
	}
	// Committed: the undo snapshot has no record, and start-up would
	// remove it if this did not; nor would it keep a rebuild's old tree.
	if rebuilt {
		_ = rb.EndRebuild(v)
	} else {
		_ = d.DeleteSnapshot(v, refreshUndoSnapshot)
	}
	return nil
}

// refreshInPlace snapshots v as it is (the undo snapshot), then fills it
// with each snapshot of add in turn, snapshotting it (made lists those
// made), and then with the volume's own tree.
func (p *Pools) refreshInPlace(ctx context.Context, d Driver, v Volume, add []VolumeSnapshotRecord, fill refreshFill, made *[]string) error {
	_ = d.DeleteSnapshot(v, refreshUndoSnapshot) // a leftover of an earlier crash
	if err := d.CreateSnapshot(ctx, v, refreshUndoSnapshot); err != nil {
		return fmt.Errorf("refresh: snapshot the volume as it is: %w", err)
	}
	if err := d.MountVolume(v); err != nil {
		return err
	}
	dir := d.VolumePath(v)
	for _, s := range add {
		if err := fill(ctx, s.Name, dir); err != nil {
			return err
		}
		if err := d.CreateSnapshot(ctx, v, s.Name); err != nil {
			return fmt.Errorf("snapshot %q: %w", s.Name, err)
		}
		*made = append(*made, s.Name)
	}
	return fill(ctx, "", dir)
}

// setRefreshing marks the volume's record as under a refresh, or not.
func (p *Pools) setRefreshing(key string, on bool) error {
	return p.db.Update(func(tx *store.Tx) error {
		var r VolumeRecord
		if _, err := tx.Get(store.Volumes, key, &r); err != nil {
			return err
		}
		r.Refreshing = on
		_, err := tx.Put(store.Volumes, key, r, 0)
		return err
	})
}

// undoVolumeRefresh puts v back as its undo snapshot has it, if there is
// one (without it, nothing was written yet), and removes the snapshot;
// or puts back the tree a rebuild set aside. Each step can run again
// after a crash.
func undoVolumeRefresh(ctx context.Context, d Driver, v Volume) error {
	if rb, ok := d.(Rebuilder); ok {
		undone, err := rb.UndoRebuild(v)
		if err != nil {
			return err
		}
		if undone {
			// The source could reach the old tree through links of its
			// own making in the new one: checked again as it returns.
			return settleVolumeTree(d.VolumePath(v), "the volume as it was before the refresh")
		}
	}
	names, err := d.SnapshotNames(v)
	if err != nil {
		return err
	}
	if !slices.Contains(names, refreshUndoSnapshot) {
		return nil
	}
	if err := d.PrepareRestore(ctx, v, refreshUndoSnapshot); err != nil {
		_ = d.CancelRestore(v)
		return err
	}
	if err := d.FinishRestore(v); err != nil {
		return err
	}
	return d.DeleteSnapshot(v, refreshUndoSnapshot)
}

// repairRefresh undoes the refresh of r a crash cut short, before the
// snapshots without records (those it made, and its undo snapshot) are
// removed.
func (p *Pools) repairRefresh(log *slog.Logger, d Driver, r VolumeRecord) {
	if !r.Refreshing {
		// A rebuild committed, its old tree not yet removed.
		if rb, ok := d.(Rebuilder); ok {
			if err := rb.EndRebuild(r.Volume()); err != nil {
				log.Error("repair: remove a custom volume's tree from before a refresh", "pool", r.Pool, "volume", r.Name, "err", err)
			}
		}
		return
	}
	err := undoVolumeRefresh(context.Background(), d, r.Volume())
	if err == nil {
		err = p.setRefreshing(volumeKey(r.Pool, r.Project, r.Name), false)
	}
	log.Warn("repair: undid a custom volume refresh cut short", "pool", r.Pool, "volume", r.Name, "err", err)
}

// RefreshCustomVolume refreshes the volume c names as its destination
// (it exists) from its source, on this host: snapshots compared by name,
// as LXD does locally.
func (p *Pools) RefreshCustomVolume(ctx context.Context, c VolumeCopy) error {
	srcProj := c.SrcProject
	dstProj := c.DstProject
	if dstProj == "" {
		dstProj = srcProj
	}
	src, _, err := p.CustomVolume(c.SrcPool, srcProj, c.SrcName)
	if err != nil {
		return err
	}
	from, err := p.Get(c.SrcPool)
	if err != nil {
		return err
	}
	var srcSnaps []VolumeSnapshotRecord
	if !c.VolumeOnly {
		if srcSnaps, err = p.CustomVolumeSnapshots(c.SrcPool, srcProj, c.SrcName); err != nil {
			return err
		}
	}
	have, err := p.CustomVolumeSnapshots(c.DstPool, dstProj, c.DstName)
	if err != nil {
		return err
	}
	var prune []string
	var add []VolumeSnapshotRecord
	for _, h := range have {
		if !slices.ContainsFunc(srcSnaps, func(s VolumeSnapshotRecord) bool { return s.Name == h.Name }) {
			prune = append(prune, h.Name)
		}
	}
	for _, s := range srcSnaps {
		if !slices.ContainsFunc(have, func(h VolumeSnapshotRecord) bool { return h.Name == s.Name }) {
			add = append(add, s)
		}
	}
	if c.VolumeOnly {
		prune = nil // a volume-only refresh leaves the snapshots be
	}
	fill := func(ctx context.Context, snap, dir string) error {
		mirror := func(tree string) error { return mirrorInto(ctx, tree, dir, TypeCustom) }
		if snap != "" {
			return from.ViewSnapshot(ctx, src.Volume(), snap, mirror)
		}
		if err := from.MountVolume(src.Volume()); err != nil {
			return err
		}
		return mirror(from.VolumePath(src.Volume()))
	}
	return p.refreshVolume(ctx, c.DstPool, dstProj, c.DstName, prune, add, fill, nil)
}

// PrepareCustomVolumeRefresh readies the refresh of custom volume name
// from another host's (the sink of a migration with refresh): the source
// sends the snapshots this volume lacks (by name and creation date) and
// rsync's deltas of the trees.
func (p *Pools) PrepareCustomVolumeRefresh(pool, proj, name string) (*migration.Sink, error) {
	rec, _, err := p.CustomVolume(pool, proj, name)
	if err != nil {
		return nil, err
	}
	if rec.ContentType != ContentFilesystem {
		return nil, apierr.BadRequest("storage volume %q is a block volume: only filesystem volumes come from another host", name)
	}
	have, err := p.CustomVolumeSnapshots(pool, proj, name)
	if err != nil {
		return nil, err
	}
	// No Driver: a refresh goes by rsync, whatever the pools.
	sink := &migration.Sink{Refresh: true}
	for _, s := range have {
		sink.Have = append(sink.Have, migration.Snapshot{Name: s.Name, CreationDate: unixOrNil(s.CreatedAt)})
	}
	sink.Make = func(ctx context.Context, in *migration.Incoming) error {
		add, err := migratedVolumeSnapshots(rec, in)
		if err != nil {
			return err
		}
		settle := func(dir, what string) error { return settleVolumeTree(dir, "the source's "+what) }
		fill := func(ctx context.Context, snap, dir string) error {
			what := "volume"
			if snap != "" {
				what = "snapshot " + snap
			}
			return receiveVolumeTree(ctx, in, dir, what, settle)
		}
		// rsync builds the new tree beside the old one, linking what
		// did not change.
		rebuild := func(ctx context.Context, ws string) error {
			if err := in.ReceiveLinked(ctx, ws); err != nil {
				return fmt.Errorf("receive the source's volume: %w", err)
			}
			return settle(filepath.Join(ws, migration.LinkedNew), "volume")
		}
		return p.refreshVolume(ctx, pool, proj, name, in.Prune, add, fill, rebuild)
	}
	return sink, nil
}
