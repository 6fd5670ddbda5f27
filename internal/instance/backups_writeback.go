package instance

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lodge-project/lodge/internal/backup"
	"github.com/lodge-project/lodge/internal/durable"
	"github.com/lodge-project/lodge/internal/store"
)

// An instance backup's tarball reaches the disk a few seconds after the
// backup is made, not before (backup.WriteFileLater). Until it does, its record's
// Unsynced names the boot it was written in (and a nonce, to find the
// record again after a rename). A daemon that stops first finishes the
// writeback at its next start; a host that goes down first may have cut
// the tarball short, and start-up removes that backup.

// writebackMark is a new backup's Unsynced: this boot and a nonce.
func writebackMark() (string, error) {
	boot, err := durable.BootID()
	if err != nil {
		return "", err
	}
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	return boot + " " + hex.EncodeToString(nonce), nil
}

// backupWritebackDelay is how long a new backup waits for its writeback.
// lxc export downloads the tarball and deletes it within this: the
// kernel then drops its pages without ever writing them, and the export
// costs the disk nothing on the server's side.
var backupWritebackDelay = 5 * time.Second

// writeBackLater syncs the backup marked mark in the background.
func (s *Service) writeBackLater(mark string) {
	go func() {
		time.Sleep(backupWritebackDelay)
		if err := s.writeBack(mark); err != nil {
			s.log.Warn("backup writeback failed: it is removed if the host goes down before it is retried at the next start", "err", err)
		}
	}()
}

// writeBack syncs the backup marked mark and clears the mark. A rename
// meanwhile moves the tarball: it is looked for again.
func (s *Service) writeBack(mark string) error {
	for attempt := 0; attempt < 3; attempt++ {
		rec, ok := s.backupMarked(mark)
		if !ok {
			return nil // deleted meanwhile
		}
		err := backup.SyncFile(filepath.Join(s.backupsDir(rec.Instance), rec.Name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		cleared := false
		err = s.db.Update(func(tx *store.Tx) error {
			var r BackupRecord
			if _, err := tx.Get(store.Backups, backupKey(rec.Instance, rec.Name), &r); err != nil || r.Unsynced != mark {
				return nil // moved after the sync: look again
			}
			r.Unsynced = ""
			cleared = true
			_, err := tx.Put(store.Backups, backupKey(rec.Instance, rec.Name), r, 0)
			return err
		})
		if cleared {
			s.log.Debug("backup written back", "instance", rec.Instance, "backup", rec.Name)
		}
		if err != nil || cleared {
			return err
		}
	}
	return errors.New("the backup kept moving while it was written back")
}

// backupMarked is the backup record whose Unsynced is mark.
func (s *Service) backupMarked(mark string) (BackupRecord, bool) {
	all, err := store.List[BackupRecord](s.db, store.Backups)
	if err != nil {
		return BackupRecord{}, false
	}
	for _, r := range all {
		if r.Unsynced == mark {
			return r, true
		}
	}
	return BackupRecord{}, false
}

// settleWritebacks runs at start-up: backups written in this boot are
// synced in the background; those of an earlier boot, which a host crash
// may have cut short, are removed.
func (s *Service) settleWritebacks() {
	boot, err := durable.BootID()
	if err != nil {
		s.log.Warn("backups not yet written back are left as they are", "err", err)
		return
	}
	all, err := store.List[BackupRecord](s.db, store.Backups)
	if err != nil {
		return
	}
	for _, r := range all {
		switch {
		case r.Unsynced == "":
		case strings.HasPrefix(r.Unsynced, boot+" "):
			s.writeBackLater(r.Unsynced)
		default:
			s.log.Warn("the host went down before this backup was on disk: it is removed", "instance", r.Instance, "backup", r.Name)
			if err := s.DeleteBackup(r.Instance, r.Name); err != nil {
				s.log.Error("remove a backup the host's crash cut short", "instance", r.Instance, "backup", r.Name, "err", err)
			}
		}
	}
}
