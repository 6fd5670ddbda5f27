package image

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/lodge-project/lodge/internal/durable"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/store"
)

// A copy from another host (Upload.Defer: stored now, unpacked at its
// first launch) is kept without waiting for its fsync, which is a good
// part of an lxc image copy (45 ms of about 250 for a Debian image). Its
// fingerprint is its checksum, so after a host crash start-up can tell
// whether the file is whole.
//
// While the writeback is pending, images/.unsynced-<fp> names the boot
// the files were written in (durable.Mark); it is on disk before the
// files' names and the record are. Its writeback runs later in the
// background, or at once when the image is first unpacked: an image
// volume, and the instances on it, are only ever made from synced files
// (an image volume is unpacked again from its file after a crash). At
// start-up (RecoverFiles), a mark of this boot is written back; one of an
// earlier boot has its files checked against the fingerprint, and an
// image whose files lost data is removed, records and all.

const unsyncedFilePrefix = ".unsynced-"

// fileWritebackDelay is how long a copied image's files wait for their
// writeback: past the kernel's own flusher (30 s), as an image volume's.
const fileWritebackDelay = 35 * time.Second

// fileWriteback is the state of a service's image file writebacks.
type fileWriteback struct {
	// mu serialises them; delay is fileWritebackDelay but in tests.
	mu    sync.Mutex
	delay time.Duration
	// running counts those in flight (WaitFileWriteback).
	running sync.WaitGroup
}

func (s *Service) unsyncedFileMark(fp string) string {
	return filepath.Join(s.dir, unsyncedFilePrefix+fp)
}

// markFilesUnsynced marks image fp's files as not yet on disk, before
// they are kept under its name.
func (s *Service) markFilesUnsynced(fp string) (string, error) {
	mark, err := durable.Mark(s.unsyncedFileMark(fp))
	if err != nil {
		return "", fmt.Errorf("image %s: %w", fp[:12], err)
	}
	return mark, nil
}

// syncFilesLater writes image fp's files back after the delay, unless
// something did already.
func (s *Service) syncFilesLater(fp, mark string) {
	s.writeback.running.Add(1)
	delay := s.writeback.delay
	go func() {
		defer s.writeback.running.Done()
		time.Sleep(delay)
		if err := s.syncFiles(fp, mark); err != nil && !errors.Is(err, os.ErrNotExist) {
			slog.Warn("image file writeback failed: start-up checks the file if the host goes down first", "image", fp, "err", err)
		}
	}()
}

// syncFiles writes image fp's files back and drops their mark, if it is
// still mark ("" takes any). Nothing to do when there is no mark.
func (s *Service) syncFiles(fp, mark string) error {
	s.writeback.mu.Lock()
	defer s.writeback.mu.Unlock()
	if _, err := os.Stat(s.unsyncedFileMark(fp)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, f := range s.filesOf(fp) {
		if err := syncFile(f); err != nil {
			return fmt.Errorf("write back image %s: %w", fp[:12], err)
		}
	}
	if err := durable.Unmark(s.unsyncedFileMark(fp), mark); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// filesOf are image fp's files that are there.
func (s *Service) filesOf(fp string) []string {
	var out []string
	for _, f := range []string{filepath.Join(s.dir, fp), filepath.Join(s.dir, fp+".rootfs")} {
		if _, err := os.Stat(f); err == nil {
			out = append(out, f)
		}
	}
	return out
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// WaitFileWriteback waits for the image file writebacks started so far
// (the tests; nothing in lodged waits for them).
func (s *Service) WaitFileWriteback() { s.writeback.running.Wait() }

// RecoverFiles settles the image files whose writeback had not ended when
// the daemon last stopped, before anything unpacks them: those of this
// boot are written back; those of an earlier boot are checked against
// their fingerprint, and an image whose files do not match is removed
// from every project.
func (s *Service) RecoverFiles(log *slog.Logger) {
	marks, _ := filepath.Glob(filepath.Join(s.dir, unsyncedFilePrefix+"*"))
	for _, m := range marks {
		fp := strings.TrimPrefix(filepath.Base(m), unsyncedFilePrefix)
		raw, err := os.ReadFile(m)
		if err != nil {
			log.Error("repair: read an image file's writeback mark", "image", fp, "err", err)
			continue
		}
		thisBoot, err := durable.ThisBoot(string(raw))
		if err != nil {
			log.Error("repair: image file writeback", "image", fp, "err", err)
			continue
		}
		if _, ok := s.recordOf(fp); !ok {
			// Cut short before its record: Repair removes the files.
			_ = os.Remove(m)
			continue
		}
		if !thisBoot {
			if err := s.checkFiles(fp); err != nil {
				log.Warn("repair: an image copied just before the host went down lost data: removing it (copy it again)", "image", fp, "err", err)
				s.dropEverywhere(fp)
				_ = os.Remove(m)
				continue
			}
		}
		if err := s.syncFiles(fp, ""); err != nil {
			log.Error("repair: write back image files", "image", fp, "err", err)
		}
	}
}

// checkFiles reads image fp's files and checks them against fp.
func (s *Service) checkFiles(fp string) error {
	h := sha256.New()
	for _, f := range s.filesOf(fp) {
		file, err := os.Open(f)
		if err != nil {
			return err
		}
		_, err = io.Copy(h, file)
		file.Close()
		if err != nil {
			return err
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != fp {
		return fmt.Errorf("its files hash to %s", got)
	}
	return nil
}

// dropEverywhere removes image fp from every project that has it, with
// its aliases; its files go with the last.
func (s *Service) dropEverywhere(fp string) {
	var projects []string
	_ = s.db.View(func(tx *store.Tx) error {
		for _, k := range tx.Keys(store.Images) {
			if p, name := project.SplitKey(k); name == fp {
				projects = append(projects, p)
			}
		}
		return nil
	})
	for _, p := range projects {
		if err := s.Delete(p, fp); err != nil {
			slog.Error("repair: remove an image that lost data", "image", fp, "project", p, "err", err)
		}
	}
}
