package instance

import (
	"context"
	"sort"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/crashpoint"
	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/store"
)

// MovePool moves a stopped instance's volume, and its snapshots unless
// instanceOnly, to another pool (lxc move --storage): the volume is copied
// there, then the records say so in one transaction, then the old volume
// goes. A crash before the commit leaves a volume on the new pool that no
// record places there, and one after it the old volume: start-up removes
// either (Reconcile), so the instance is whole on one pool or the other.
func (s *Service) MovePool(ctx context.Context, key, pool string, instanceOnly bool) error {
	defer s.pools.Hold()()
	defer s.lock(key)()
	e, rev, err := s.load(key)
	if err != nil {
		return err
	}
	if st, _ := s.status(key); st != runtime.StateStopped {
		return apierr.BadRequest("instance %q is running: stop it before moving it to another pool", e.Name)
	}
	from := rootPool(e.Devices)
	if from == pool {
		return apierr.BadRequest("instance %q is on storage pool %q already", e.Name, pool)
	}
	// The root disk becomes the instance's own, on the new pool, with
	// what it had (a size) kept.
	rec := e.Record
	rec.Devices = map[string]map[string]string{}
	for k, d := range e.Record.Devices {
		rec.Devices[k] = copyMap(d)
	}
	root := rootDisk(e.Devices)
	if rec.Devices[root] == nil {
		rec.Devices[root] = copyMap(e.Devices[root])
	}
	rec.Devices[root]["pool"] = pool
	var moved Expanded
	err = s.db.View(func(tx *store.Tx) error {
		ps, err := s.profiles(tx, rec.Project, rec.Profiles)
		moved = expand(rec, ps)
		return err
	})
	if err != nil {
		return err
	}
	if err := s.checkRootPool(moved); err != nil {
		return err
	}
	src, srcVol, err := s.poolOf(e)
	if err != nil {
		return err
	}
	dst, dstVol, err := s.poolOf(moved)
	if err != nil {
		return err
	}
	snaps, err := s.snapshotRecords(key)
	if err != nil {
		return err
	}
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].CreatedAt.Before(snaps[j].CreatedAt) })
	var names []string
	if !instanceOnly {
		for _, sn := range snaps {
			names = append(names, sn.Name)
		}
	}
	if err := storage.CopyAcross(ctx, src, srcVol, "", names, dst, dstVol); err != nil {
		return err
	}
	if err := storage.SetVolumeSize(dst, dstVol, rootSize(moved)); err != nil {
		_ = dst.DeleteVolume(dstVol)
		return err
	}
	crashpoint.Hit("poolmove.copied")
	err = s.db.Update(func(tx *store.Tx) error {
		if _, err := tx.Put(store.Instances, key, rec, rev); err != nil {
			return err
		}
		for _, sn := range snaps {
			if instanceOnly {
				if err := tx.Delete(store.Snapshots, snapKey(key, sn.Name)); err != nil {
					return err
				}
				continue
			}
			sn.Devices = onRootPool(sn.Devices, rec.Devices)
			if _, err := tx.Put(store.Snapshots, snapKey(key, sn.Name), sn, 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = dst.DeleteVolume(dstVol)
		return err
	}
	crashpoint.Hit("poolmove.committed")
	if err := src.DeleteVolume(srcVol); err != nil {
		s.log.Warn("move to another pool: the old volume stays until the next start-up", "instance", e.Name, "pool", from, "err", err)
	}
	s.linkVolume(key, dst, dstVol)
	s.bus.Lifecycle("instance-updated", instanceURL(key), nil)
	return nil
}
