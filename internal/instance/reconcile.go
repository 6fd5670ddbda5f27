package instance

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/store"
)

// placed is where an instance's volume is.
type placed struct {
	pool storage.Driver
	vol  storage.Volume
}

// Reconcile brings the disk in line with the store after a crash or a
// restart, logs each repair, and follows the containers still running.
func (s *Service) Reconcile() error {
	s.settleIntents()
	names, err := s.Names()
	if err != nil {
		return err
	}
	// Each instance's pool, and the instances each pool should hold.
	known := map[string]bool{}
	pools := map[string]placed{}
	held := map[string]map[storage.VolumeType]map[string]bool{}
	for _, n := range names {
		known[n] = true
		e, _, err := s.load(n)
		if err != nil {
			continue
		}
		p := rootPool(e.Devices)
		pool, err := s.pools.Get(p)
		if err != nil {
			s.log.Error("repair: an instance's pool does not open", "instance", n, "pool", p, "err", err)
			continue
		}
		vol := volumeOf(e)
		pools[n] = placed{pool, vol}
		if held[p] == nil {
			held[p] = map[storage.VolumeType]map[string]bool{}
		}
		if held[p][vol.Type] == nil {
			held[p][vol.Type] = map[string]bool{}
		}
		held[p][vol.Type][vol.StorageName()] = true
		if what, err := pool.RepairVolume(vol); err != nil {
			s.log.Error("repair: volume", "instance", n, "err", err)
		} else if what != "" {
			s.log.Warn("repair: "+what, "instance", n)
		}
		s.reconcileSnapshots(n, pool, vol)
	}
	s.pools.Each(func(poolName string, pool storage.Driver, err error) {
		if err != nil {
			s.log.Error("repair: storage pool does not open", "pool", poolName, "err", err)
			return
		}
		removed, err := pool.RemoveLeftovers()
		for _, r := range removed {
			s.log.Warn("repair: removed what an interrupted change left", "pool", poolName, "volume", r)
		}
		if err != nil {
			s.log.Error("repair: remove leftovers", "pool", poolName, "err", err)
		}
		for _, typ := range []storage.VolumeType{storage.TypeContainer, storage.TypeVM} {
			volumes, err := pool.VolumeNames(typ)
			if err != nil {
				s.log.Error("repair: list volumes", "pool", poolName, "type", typ, "err", err)
				continue
			}
			for _, v := range volumes {
				if held[poolName][typ][v] {
					continue
				}
				if st, _ := s.status(v); st != runtime.StateStopped {
					s.log.Warn("repair: an instance runs without a record; leaving its volume", "pool", poolName, "instance", v)
					continue
				}
				s.log.Warn("repair: removing a volume without a record", "pool", poolName, "instance", v)
				// Named as on disk: a default-project volume's storage
				// name is its name.
				_ = pool.DeleteVolume(storage.Volume{Pool: poolName, Project: storage.DefaultProject, Type: typ, Name: v})
			}
		}
	})
	s.removeLeftovers(known, pools)
	for _, n := range names {
		if p, ok := pools[n]; ok {
			if _, err := os.Stat(p.pool.VolumePath(p.vol)); err != nil {
				s.log.Error("instance has no volume: it cannot start until its rootfs is restored", "instance", n, "path", p.pool.VolumePath(p.vol))
			}
		}
		r, _, err := store.Get[Record](s.db, store.Instances, n)
		if err != nil {
			continue
		}
		rt := s.runtimeOf(r.Type)
		if st, _ := rt.Status(n); st != runtime.StateStopped {
			rt.Watch(n)
			s.restoreDevLXD(n)
		} else if r.Config["volatile.last_state.power"] == "RUNNING" {
			// Gone while lodged was away (a host reboot, a crash):
			// Autostart brings it back; an ephemeral one is deleted.
			s.log.Info("instance stopped while lodged was away", "instance", n)
			if r.Ephemeral {
				_ = s.Delete(n)
			}
		}
	}
	return nil
}

// reconcileSnapshots drops snapshot records whose copy is gone and copies
// without a record (a crash between the two writes).
func (s *Service) reconcileSnapshots(name string, pool storage.Driver, vol storage.Volume) {
	onDisk, err := pool.SnapshotNames(vol)
	if err != nil {
		return
	}
	disk := map[string]bool{}
	for _, snap := range onDisk {
		disk[snap] = true
	}
	recorded := map[string]bool{}
	keepUndo := false
	_ = s.db.View(func(tx *store.Tx) error {
		for _, k := range snapshotKeys(tx, name) {
			recorded[strings.TrimPrefix(k, name+"/")] = true
		}
		// A refresh whose undo start-up could not finish keeps its undo
		// snapshot for the next start (see settleIntents).
		keepUndo = tx.Exists(store.Intents, name)
		return nil
	})
	for snap := range recorded {
		if !disk[snap] {
			s.log.Warn("repair: dropping a snapshot record whose copy is gone", "instance", name, "snapshot", snap)
			_ = s.db.Update(func(tx *store.Tx) error { return tx.Delete(store.Snapshots, snapKey(name, snap)) })
		}
	}
	for snap := range disk {
		if !recorded[snap] && !(keepUndo && snap == undoSnapshot) {
			s.log.Warn("repair: removing a snapshot copy without a record", "instance", name, "snapshot", snap)
			_ = pool.DeleteSnapshot(vol, snap)
		}
	}
}

// removeLeftovers removes the per-instance entries of instances that have
// no record (a delete or a rename that a crash cut short): the
// containers/<name> link, logs/<name> and devices/<name>. The links of
// instances that have one are made again.
func (s *Service) removeLeftovers(known map[string]bool, pools map[string]placed) {
	hosts := map[string]bool{} // the folders go by host names
	for key := range known {
		hosts[host(key)] = true
	}
	for _, sub := range []string{"containers", "logs", "devices"} {
		entries, _ := os.ReadDir(filepath.Join(s.dir, sub))
		for _, e := range entries {
			if !hosts[e.Name()] {
				s.log.Warn("repair: removing what a deleted instance left", "path", filepath.Join(sub, e.Name()))
				_ = os.RemoveAll(filepath.Join(s.dir, sub, e.Name()))
			}
		}
	}
	for n, p := range pools {
		if target, err := os.Readlink(filepath.Join(s.dir, "containers", host(n))); err != nil || target != p.pool.VolumePath(p.vol) {
			s.linkVolume(n, p.pool, p.vol)
		}
	}
}

// UnmountStopped unmounts the volumes of stopped instances, as lodged
// stops: the state directory then holds no mount of Lodge's but those of
// running instances, and can be removed once they are stopped too. The
// next start-up mounts them again.
func (s *Service) UnmountStopped() {
	names, _ := s.Names()
	for _, n := range names {
		if st, _ := s.status(n); st != runtime.StateStopped {
			continue
		}
		unlock := s.lock(n)
		pool, vol, err := s.poolFor(n)
		if err == nil {
			err = pool.UnmountVolume(vol)
		}
		if err != nil {
			s.log.Warn("unmount a stopped instance's volume", "instance", n, "err", err)
		}
		unlock()
	}
}
