package instance

import (
	"context"
	"encoding/json"
	"time"

	"github.com/lodge-project/lodge/internal/cron"
	"github.com/lodge-project/lodge/internal/instance/keys"
	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/store"
)

// RunScheduler takes scheduled snapshots and deletes expired ones, checking
// every tick until ctx ends. Firing times come from the wall clock, so the
// tick only sets how late a snapshot may be.
func (s *Service) RunScheduler(ctx context.Context, tick time.Duration) {
	last := time.Now()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.scheduledSnapshots(last, now)
			taken, errs := s.pools.ScheduledVolumeSnapshots(last, now)
			for _, t := range taken {
				s.log.Info("scheduled volume snapshot taken", "snapshot", t)
			}
			for _, err := range errs {
				s.log.Warn("scheduled volume snapshot failed", "err", err)
			}
			s.scheduledBackups(last, now)
			s.expireSnapshots(now)
			s.ExpireBackups(now)
			s.expireBackupFiles(now)
			for _, err := range s.pools.ExpireCustomVolumeBackups(now) {
				s.log.Warn("delete an expired volume backup", "err", err)
			}
			for _, err := range s.pools.ExpireCustomVolumeSnapshots(now) {
				s.log.Warn("delete an expired volume snapshot", "err", err)
			}
			last = now
		}
	}
}

// scheduledSnapshots snapshots every instance whose schedule fired in (from, to].
func (s *Service) scheduledSnapshots(from, to time.Time) {
	names, _ := s.Names()
	for _, name := range names {
		e, _, err := s.load(name)
		if err != nil || e.Config["snapshots.schedule"] == "" {
			continue
		}
		sched, err := cron.ParseTriggers(e.Config["snapshots.schedule"])
		if err != nil {
			continue
		}
		if next := sched.Next(from); next.IsZero() || next.After(to) {
			continue
		}
		if st, _ := s.runtimeOf(e.Type).Status(name); st == runtime.StateStopped && !keys.IsTrue(e.Config, "snapshots.schedule.stopped") {
			continue
		}
		if snap, err := s.CreateSnapshot(context.Background(), name, "", nil); err != nil {
			s.log.Warn("scheduled snapshot failed", "instance", name, "err", err)
		} else {
			s.log.Info("scheduled snapshot taken", "instance", name, "snapshot", snap)
		}
	}
}

// expireSnapshots deletes snapshots whose expiry has passed.
func (s *Service) expireSnapshots(now time.Time) {
	var doomed []SnapshotRecord
	_ = s.db.View(func(tx *store.Tx) error {
		return tx.Each(store.Snapshots, func(_ string, _ uint64, data json.RawMessage) error {
			var r SnapshotRecord
			if json.Unmarshal(data, &r) == nil && !r.ExpiresAt.IsZero() && r.ExpiresAt.Before(now) {
				doomed = append(doomed, r)
			}
			return nil
		})
	})
	for _, r := range doomed {
		if err := s.DeleteSnapshot(r.Instance, r.Name); err != nil {
			s.log.Warn("delete expired snapshot", "instance", r.Instance, "snapshot", r.Name, "err", err)
		} else {
			s.log.Info("expired snapshot deleted", "instance", r.Instance, "snapshot", r.Name)
		}
	}
}
