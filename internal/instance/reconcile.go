package instance

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/lodge-project/lodge/internal/instance/runtime"
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
	known := map[string]bool{}
	for _, n := range names {
		known[n] = true
	}
	for _, n := range names {
		if what, err := s.pool.RepairInstance(n); err != nil {
			s.log.Error("repair: volume", "instance", n, "err", err)
		} else if what != "" {
			s.log.Warn("repair: "+what, "instance", n)
		}
		s.reconcileSnapshots(n)
	}
	volumes, err := s.pool.InstanceNames()
	if err != nil {
		return err
	}
	for _, v := range volumes {
		switch {
		case strings.HasSuffix(v, ".restore") || strings.HasSuffix(v, ".old"):
			s.log.Warn("repair: removing a restore leftover", "volume", v)
			_ = s.pool.DeleteInstance(v)
		case strings.HasSuffix(v, ".partial"):
			s.log.Warn("repair: removing a half-made volume", "volume", v)
			_ = s.pool.DeleteInstance(v)
		case !known[v]:
			if st, _ := s.status(v); st != runtime.StateStopped {
				s.log.Warn("repair: a container runs without a record; leaving its volume", "instance", v)
				continue
			}
			s.log.Warn("repair: removing a volume without a record", "instance", v)
			_ = s.pool.DeleteInstance(v)
		}
	}
	s.removeLeftovers(known)
	for _, n := range names {
		if _, err := os.Stat(s.pool.InstancePath(n)); err != nil {
			s.log.Error("instance has no volume: it cannot start until its rootfs is restored", "instance", n, "path", s.pool.InstancePath(n))
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
func (s *Service) reconcileSnapshots(name string) {
	onDisk, err := s.pool.SnapshotNames(name)
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
			_ = s.pool.DeleteSnapshot(name, snap)
		}
	}
}

// removeLeftovers removes the per-instance entries of instances that have
// no record (a delete or a rename that a crash cut short): the
// containers/<name> link, logs/<name> and devices/<name>. The links of
// instances that have one are made again.
func (s *Service) removeLeftovers(known map[string]bool) {
	for _, sub := range []string{"containers", "logs", "devices"} {
		entries, _ := os.ReadDir(filepath.Join(s.dir, sub))
		for _, e := range entries {
			if !known[e.Name()] {
				s.log.Warn("repair: removing what a deleted instance left", "path", filepath.Join(sub, e.Name()))
				_ = os.RemoveAll(filepath.Join(s.dir, sub, e.Name()))
			}
		}
	}
	for n := range known {
		if target, err := os.Readlink(filepath.Join(s.dir, "containers", n)); err != nil || target != s.pool.InstancePath(n) {
			s.linkVolume(n)
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
		if err := s.pool.UnmountInstance(n); err != nil {
			s.log.Warn("unmount a stopped instance's volume", "instance", n, "err", err)
		}
		unlock()
	}
}
