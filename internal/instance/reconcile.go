package instance

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/store"
)

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
	pools := map[string]storage.Driver{}
	held := map[string]map[string]bool{}
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
		pools[n] = pool
		if held[p] == nil {
			held[p] = map[string]bool{}
		}
		held[p][n] = true
		if what, err := pool.RepairInstance(n); err != nil {
			s.log.Error("repair: volume", "instance", n, "err", err)
		} else if what != "" {
			s.log.Warn("repair: "+what, "instance", n)
		}
		s.reconcileSnapshots(n, pool)
	}
	s.pools.Each(func(poolName string, pool storage.Driver, err error) {
		if err != nil {
			s.log.Error("repair: storage pool does not open", "pool", poolName, "err", err)
			return
		}
		volumes, err := pool.InstanceNames()
		if err != nil {
			s.log.Error("repair: list volumes", "pool", poolName, "err", err)
			return
		}
		for _, v := range volumes {
			switch {
			case strings.HasSuffix(v, ".restore") || strings.HasSuffix(v, ".old"):
				s.log.Warn("repair: removing a restore leftover", "pool", poolName, "volume", v)
				_ = pool.DeleteInstance(v)
			case strings.HasSuffix(v, ".partial"):
				s.log.Warn("repair: removing a half-made volume", "pool", poolName, "volume", v)
				_ = pool.DeleteInstance(v)
			case !held[poolName][v]:
				if st, _ := s.status(v); st != runtime.StateStopped {
					s.log.Warn("repair: a container runs without a record; leaving its volume", "pool", poolName, "instance", v)
					continue
				}
				s.log.Warn("repair: removing a volume without a record", "pool", poolName, "instance", v)
				_ = pool.DeleteInstance(v)
			}
		}
	})
	s.removeLeftovers(known, pools)
	for _, n := range names {
		if pool, ok := pools[n]; ok {
			if _, err := os.Stat(pool.InstancePath(n)); err != nil {
				s.log.Error("instance has no volume: it cannot start until its rootfs is restored", "instance", n, "path", pool.InstancePath(n))
			}
		}
		r, _, err := store.Get[Record](s.db, store.Instances, n)
		if err != nil {
			continue
		}
		rt := s.runtimeOf(r.Type)
		if st, _ := rt.Status(n); st != runtime.StateStopped {
			rt.Watch(n)
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
func (s *Service) reconcileSnapshots(name string, pool storage.Driver) {
	onDisk, err := pool.SnapshotNames(name)
	if err != nil {
		return
	}
	disk := map[string]bool{}
	for _, snap := range onDisk {
		disk[snap] = true
	}
	recorded := map[string]bool{}
	_ = s.db.View(func(tx *store.Tx) error {
		for _, k := range snapshotKeys(tx, name) {
			recorded[strings.TrimPrefix(k, name+"/")] = true
		}
		return nil
	})
	for snap := range recorded {
		if !disk[snap] {
			s.log.Warn("repair: dropping a snapshot record whose copy is gone", "instance", name, "snapshot", snap)
			_ = s.db.Update(func(tx *store.Tx) error { return tx.Delete(store.Snapshots, snapKey(name, snap)) })
		}
	}
	for snap := range disk {
		if !recorded[snap] {
			s.log.Warn("repair: removing a snapshot copy without a record", "instance", name, "snapshot", snap)
			_ = pool.DeleteSnapshot(name, snap)
		}
	}
}

// removeLeftovers removes the per-instance entries of instances that have
// no record (a delete or a rename that a crash cut short): the
// containers/<name> link, logs/<name> and devices/<name>. The links of
// instances that have one are made again.
func (s *Service) removeLeftovers(known map[string]bool, pools map[string]storage.Driver) {
	for _, sub := range []string{"containers", "logs", "devices"} {
		entries, _ := os.ReadDir(filepath.Join(s.dir, sub))
		for _, e := range entries {
			if !known[e.Name()] {
				s.log.Warn("repair: removing what a deleted instance left", "path", filepath.Join(sub, e.Name()))
				_ = os.RemoveAll(filepath.Join(s.dir, sub, e.Name()))
			}
		}
	}
	for n, pool := range pools {
		if target, err := os.Readlink(filepath.Join(s.dir, "containers", n)); err != nil || target != pool.InstancePath(n) {
			s.linkVolume(n, pool)
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
		pool, err := s.poolFor(n)
		if err == nil {
			err = pool.UnmountInstance(n)
		}
		if err != nil {
			s.log.Warn("unmount a stopped instance's volume", "instance", n, "err", err)
		}
		unlock()
	}
}
