package instance

import (
	"context"
	"fmt"

	"github.com/lodge-project/lodge/internal/crashpoint"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/migration"
	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/store"
)

// undoSnapshot is the snapshot a refresh by rsync takes of the volume
// before it writes there: a name no user's snapshot can have (they start
// with a letter or digit), and with no record, so it is never listed.
const undoSnapshot = ".lodge-refresh-undo"

// refreshByRsync brings instance e up to date from the source's trees
// (rsync's deltas), all or nothing. rsync writes in place, so a refresh
// cut short would leave the copy part old, part new: the volume is
// snapshotted first (cheap where the pool copies on write, or copies only
// a layered volume's upper tree), and a failure, or a crash before the
// records are committed, puts that snapshot back and drops the snapshots
// the refresh made. The new snapshots' records and the end of the intent
// are one transaction.
func (s *Service) refreshByRsync(ctx context.Context, e Expanded, pool storage.Driver, vol storage.Volume, in *migration.Incoming, recs []SnapshotRecord, files *idmap.Map) (err error) {
	key := e.key()
	if err := s.db.Update(func(tx *store.Tx) error {
		return putIntent(tx, intent{Op: intentRefresh, Instance: key, Snapshot: undoSnapshot, Phase: phaseCopy})
	}); err != nil {
		return err
	}
	var made []string
	defer func() {
		if err == nil {
			return
		}
		for _, n := range made {
			_ = pool.DeleteSnapshot(vol, n)
		}
		if uerr := s.undoRefresh(context.WithoutCancel(ctx), pool, vol); uerr != nil {
			s.log.Error("refresh: put the copy back as it was", "instance", key, "err", uerr)
			err = fmt.Errorf("%w (and putting the copy back failed: %v; lodged tries again at its next start)", err, uerr)
			return
		}
		_ = s.db.Update(func(tx *store.Tx) error { return dropIntent(tx, key) })
	}()
	_ = pool.DeleteSnapshot(vol, undoSnapshot) // a leftover of an earlier crash
	if err := pool.CreateSnapshot(ctx, vol, undoSnapshot); err != nil {
		return fmt.Errorf("refresh: snapshot the copy as it is: %w", err)
	}
	if err := pool.MountVolume(vol); err != nil {
		return err
	}
	dir := pool.VolumePath(vol)
	s.log.Info("refreshing an instance from another host", "instance", e.Name, "transfer", "rsync", "snapshots", len(recs))
	for i := range recs {
		rec := &recs[i]
		if err := receiveTree(ctx, in, dir, fmt.Sprintf("the source's snapshot %q", rec.Name), files, e.IDMap); err != nil {
			return err
		}
		if err := pool.CreateSnapshot(ctx, vol, rec.Name); err != nil {
			return fmt.Errorf("snapshot %q: %w", rec.Name, err)
		}
		made = append(made, rec.Name)
		rec.Files = &SnapshotFiles{IDMap: e.IDMap}
	}
	if err := receiveInstance(ctx, in, dir, files, e.IDMap); err != nil {
		return err
	}
	if err := s.db.Update(func(tx *store.Tx) error {
		for _, rec := range recs {
			if err := tx.Create(store.Snapshots, snapKey(key, rec.Name), rec); err != nil {
				return err
			}
		}
		return dropIntent(tx, key)
	}); err != nil {
		return err
	}
	crashpoint.Hit("migration.refreshed")
	// Committed: the undo snapshot has no record, and start-up would
	// remove it if this did not.
	if err := pool.DeleteSnapshot(vol, undoSnapshot); err != nil {
		s.log.Warn("refresh: remove the snapshot taken before it", "instance", key, "err", err)
	}
	s.bus.Lifecycle("instance-updated", instanceURL(key), nil)
	return nil
}

// undoRefresh puts a volume back as its undo snapshot has it, if the
// snapshot was made (without it, nothing was written yet), and removes
// the snapshot. Each step can run again after a crash: a restore swaps
// in a fresh copy of the snapshot, which stays until the swap is done.
func (s *Service) undoRefresh(ctx context.Context, pool storage.Driver, vol storage.Volume) error {
	names, err := pool.SnapshotNames(vol)
	if err != nil {
		return err
	}
	has := false
	for _, n := range names {
		has = has || n == undoSnapshot
	}
	if !has {
		return nil
	}
	if err := pool.PrepareRestore(ctx, vol, undoSnapshot); err != nil {
		_ = pool.CancelRestore(vol)
		return err
	}
	if err := pool.FinishRestore(vol); err != nil {
		return err
	}
	return pool.DeleteSnapshot(vol, undoSnapshot)
}
