package instance

import (
	"context"
	"fmt"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/crashpoint"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/migration"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/store"
)

// PrepareRefresh readies a refresh of instance req.Name (lxc copy
// --refresh onto an instance this host has): the source then sends only
// the snapshots this copy lacks and the changes to its files (rsync's
// deltas). The instance must be stopped. Its config is the client's to
// update after (lxc does); its snapshots follow the source's.
func (s *Service) PrepareRefresh(proj string, req *api.InstancesPost) (*migration.Sink, error) {
	key := project.StoreKey(proj, req.Name)
	e, _, err := s.load(key)
	if err != nil {
		return nil, err
	}
	if st, _ := s.runtimeOf(e.Type).Status(key); st != runtime.StateStopped {
		return nil, apierr.BadRequest("instance %q is %s: stop it to refresh it", req.Name, st)
	}
	snaps, err := s.snapshotRecords(key)
	if err != nil {
		return nil, err
	}
	sink := &migration.Sink{Refresh: true}
	for _, sn := range snaps {
		sink.Have = append(sink.Have, snapshotToWire(sn))
	}
	if pool, vol, err := s.poolOf(e); err == nil {
		if r, ok := pool.(storage.StreamRefresher); ok {
			// Streams since the snapshot it kept as received, if the
			// source still has it.
			if base, id := r.ReceivedBase(vol); base != "" {
				sink.Driver, sink.StreamParent, sink.StreamParentUUID = pool.Name(), base, id
			}
		}
	}
	sink.Make = func(ctx context.Context, in *migration.Incoming) error {
		defer s.lock(key)()
		e, _, err := s.load(key)
		if err != nil {
			return err
		}
		if st, _ := s.runtimeOf(e.Type).Status(key); st != runtime.StateStopped {
			return apierr.BadRequest("instance %q started during its refresh", req.Name)
		}
		files, err := offeredMap(in.Offer.IDMap)
		if err != nil {
			return apierr.BadRequest("the source's id map: %v", err)
		}
		m := &migrating{req: *req, in: in}
		recs, err := m.snapshotRecords(e.Record)
		if err != nil {
			return err
		}
		for _, name := range in.Prune {
			if err := s.deleteSnapshot(key, name); err != nil {
				return fmt.Errorf("refresh: delete snapshot %q, which the source does not have: %w", name, err)
			}
		}
		defer s.pools.Hold()()
		pool, vol, err := s.poolOf(e)
		if err != nil {
			return err
		}
		if in.Streams {
			return s.refreshByStreams(ctx, e, pool, vol, in, recs, files)
		}
		return s.refreshByRsync(ctx, e, pool, vol, in, recs, files)
	}
	return sink, nil
}

// refreshByStreams brings instance e up to date from the source's
// streams since the snapshot its pool kept as received: the pool adds
// the new snapshots and swaps the new volume in at once (a failure
// leaves it as it was); their records follow.
func (s *Service) refreshByStreams(ctx context.Context, e Expanded, pool storage.Driver, vol storage.Volume, in *migration.Incoming, recs []SnapshotRecord, files *idmap.Map) error {
	r, ok := pool.(storage.StreamRefresher)
	if !ok {
		return fmt.Errorf("pool %q takes no refresh by streams", pool.Name())
	}
	transfer := pool.Name() + " streams"
	if in.LXDBtrfs {
		transfer = "LXD's BTRFS streams"
	}
	s.log.Info("refreshing an instance from another host", "instance", e.Name, "transfer", transfer+" since "+in.StreamParent, "snapshots", len(recs))
	if err := r.RefreshStreams(ctx, vol, incomingStreams(in), streamFix(files, e.IDMap)); err != nil {
		return err
	}
	key := e.key()
	for _, rec := range recs {
		rec.Files = &SnapshotFiles{IDMap: e.IDMap}
		if err := s.db.Update(func(tx *store.Tx) error { return tx.Create(store.Snapshots, snapKey(key, rec.Name), rec) }); err != nil {
			return err
		}
	}
	if err := s.applyRootSize(e); err != nil {
		return err
	}
	crashpoint.Hit("migration.received")
	s.bus.Lifecycle("instance-updated", instanceURL(key), nil)
	return nil
}
