package instance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/cron"
)

// Scheduled backups (Lodge's keys backups.schedule, backups.expiry and
// backups.path): at each firing the instance is backed up as lxc export
// would, either as one of its backups (expiring after backups.expiry) or,
// with backups.path, as a file <instance>-<UTC time>.tar.gz in that host
// directory, where the scheduler also deletes the instance's files older
// than backups.expiry.

// backupTimeLayout is the time in a scheduled backup's file name.
const backupTimeLayout = "20060102-150405"

// backupRuns marks the instances whose scheduled backup is being written,
// so a slow one is not started again on top of itself.
var backupRuns sync.Map

// scheduledBackups starts the backups whose schedule fired in (from, to].
func (s *Service) scheduledBackups(from, to time.Time) {
	names, _ := s.Names()
	for _, key := range names {
		e, _, err := s.load(key)
		if err != nil || e.Config["backups.schedule"] == "" {
			continue
		}
		sched, err := cron.ParseTriggers(e.Config["backups.schedule"])
		if err != nil {
			continue
		}
		if next := sched.Next(from); next.IsZero() || next.After(to) {
			continue
		}
		if _, running := backupRuns.LoadOrStore(key, true); running {
			s.log.Warn("scheduled backup skipped: the last one is still being written", "instance", key)
			continue
		}
		go func() {
			defer backupRuns.Delete(key)
			where, err := s.ScheduledBackup(context.Background(), key, to)
			if err != nil {
				s.log.Warn("scheduled backup failed", "instance", key, "err", err)
				return
			}
			s.log.Info("scheduled backup written", "instance", key, "backup", where)
		}()
	}
}

// ScheduledBackup backs the instance up as its backups.* keys say, and
// returns the backup's name or file.
func (s *Service) ScheduledBackup(ctx context.Context, key string, now time.Time) (string, error) {
	e, _, err := s.load(key)
	if err != nil {
		return "", err
	}
	var expires time.Time
	if v := e.Config["backups.expiry"]; v != "" {
		d, err := cron.ParseExpiry(v)
		if err != nil {
			return "", err
		}
		expires = now.Add(d)
	}
	dir := e.Config["backups.path"]
	if dir == "" {
		name, work, err := s.PrepareBackup(key, api.InstanceBackupsPost{ExpiresAt: expires})
		if err != nil {
			return "", err
		}
		return name, work(ctx)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("backups.path: %w", err)
	}
	file := filepath.Join(dir, backupFileName(key, now))
	defer s.lock(key)()
	// Synced: a scheduled backup has no record to say it is not yet.
	if err := s.writeTarball(ctx, BackupRecord{Instance: key}, file, true); err != nil {
		return "", err
	}
	return file, nil
}

// backupFileName names a scheduled backup in backups.path.
func backupFileName(key string, at time.Time) string {
	return host(key) + "-" + at.UTC().Format(backupTimeLayout) + ".tar.gz"
}

// expireBackupFiles deletes, in each instance's backups.path, its
// scheduled backups older than its backups.expiry. Only names the
// scheduler gives are touched.
func (s *Service) expireBackupFiles(now time.Time) {
	names, _ := s.Names()
	for _, key := range names {
		e, _, err := s.load(key)
		if err != nil || e.Config["backups.path"] == "" || e.Config["backups.expiry"] == "" {
			continue
		}
		d, err := cron.ParseExpiry(e.Config["backups.expiry"])
		if err != nil {
			continue
		}
		for _, f := range expiredBackupFiles(e.Config["backups.path"], key, now.Add(-d)) {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				s.log.Warn("delete an expired scheduled backup", "file", f, "err", err)
			}
		}
	}
}

// expiredBackupFiles lists the instance's scheduled backups in dir made
// before cutoff.
func expiredBackupFiles(dir, key string, cutoff time.Time) []string {
	entries, _ := os.ReadDir(dir)
	prefix := host(key) + "-"
	var out []string
	for _, e := range entries {
		n := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(n, prefix) {
			continue
		}
		if strings.HasSuffix(n, ".tar.gz.partial") {
			if _, running := backupRuns.Load(key); !running {
				out = append(out, filepath.Join(dir, n)) // a crash cut it short
			}
			continue
		}
		if !strings.HasSuffix(n, ".tar.gz") {
			continue
		}
		at, err := time.Parse(backupTimeLayout, strings.TrimSuffix(strings.TrimPrefix(n, prefix), ".tar.gz"))
		if err != nil {
			continue // another instance's whose name this one's begins, or not ours
		}
		if at.Before(cutoff) {
			out = append(out, filepath.Join(dir, n))
		}
	}
	return out
}
