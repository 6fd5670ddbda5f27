package dir

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/durable"
	"github.com/lodge-project/lodge/internal/procfs"
)

// An image volume is written back to disk after it is made, not before.
// Syncing a Debian tree file by file takes about 0.6 s, which a launch
// from a remote image would otherwise wait for; and the volume is only a
// cache of the image file, which is synced before its record is written.
//
// While the writeback runs, images/<fp>.unsynced names the boot the
// volume was made in. The marker is on disk before the volume's name is.
// If the daemon stops first, its next start in the same boot finishes the
// writeback (the page cache still holds the data). If the host went down
// first, the volume may have lost data: start-up unpacks it again, in
// place, before anything mounts it (RecoverImageVolumes).

const unsyncedSuffix = ".unsynced"

// writebackDelay is how long a new image volume waits for its writeback:
// the kernel's own flusher writes dirty data back after 30 s
// (vm.dirty_expire_centisecs), so the pass then mostly finds the tree
// written and only confirms it, instead of adding a burst of thousands of
// fsyncs of its own to whatever the host does next (the launch that
// unpacked it, first of all).
var writebackDelay = 35 * time.Second

func (d *Driver) unsyncedMarker(fp string) string { return d.imageDir(fp) + unsyncedSuffix }

// markUnsynced writes fp's marker, durably, and returns its contents (the
// boot and a nonce, so that a writeback ends only its own volume's mark).
func (d *Driver) markUnsynced(fp string) (string, error) {
	mark, err := durable.Mark(d.unsyncedMarker(fp))
	if err != nil {
		return "", fmt.Errorf("mark image volume %s unsynced: %w", fp, err)
	}
	return mark, nil
}

// syncLater writes fp's volume back in the background, then drops its
// marker if it is still the one written as mark.
func (d *Driver) syncLater(fp, mark string) {
	d.syncs.Add(1)
	go func() {
		defer d.syncs.Done()
		time.Sleep(writebackDelay)
		d.syncMu.Lock() // one writeback at a time: they share the disk
		defer d.syncMu.Unlock()
		if err := d.syncImage(fp, mark); err != nil && !errors.Is(err, os.ErrNotExist) {
			slog.Warn("image volume writeback failed: the volume is unpacked again if the host goes down first", "volume", fp, "err", err)
		}
	}()
}

// syncImage writes fp's volume back and drops its marker, if the marker
// is still mark ("" takes any).
func (d *Driver) syncImage(fp, mark string) error {
	if err := durable.Tree(d.imageDir(fp)); err != nil {
		return err
	}
	d.imageMu.Lock()
	defer d.imageMu.Unlock()
	return d.endUnsynced(fp, mark)
}

// endUnsynced drops fp's marker, written back by now, if it is still mark
// ("" takes any). imageMu is held.
func (d *Driver) endUnsynced(fp, mark string) error {
	return durable.Unmark(d.unsyncedMarker(fp), mark)
}

// WaitImageWriteback waits for the background writebacks started so far
// (the tests, which set no delay; nothing in lodged waits for them).
func (d *Driver) WaitImageWriteback() { d.syncs.Wait() }

// RecoverImageVolumes settles the volumes whose writeback had not ended
// when the daemon last stopped. Those of this boot are written back in the
// background. Those of an earlier boot are unpacked again, in place, with
// the unpack that unpackFor gives (ok false: the image is gone, and so is
// the volume). It runs at start-up, before any layered volume is mounted.
func (d *Driver) RecoverImageVolumes(unpackFor func(fp string) (unpack func(dir string) error, ok bool)) error {
	markers, err := filepath.Glob(filepath.Join(d.Root, "images", "*"+unsyncedSuffix))
	if err != nil {
		return err
	}
	// An overlay still mounted over the pool's images means the host has
	// not gone down since they were made, whatever the boot's name says:
	// write back, and never swap a tree from under a mount.
	mounted := d.layersMounted()
	var errs []error
	for _, m := range markers {
		fp := strings.TrimSuffix(filepath.Base(m), unsyncedSuffix)
		raw, err := os.ReadFile(m)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		thisBoot, err := durable.ThisBoot(string(raw))
		if err != nil {
			return err
		}
		if thisBoot || mounted {
			d.syncLater(fp, string(raw))
			continue
		}
		unpack, ok := unpackFor(fp)
		if !ok || !exists(d.imageDir(fp)) {
			// Start-up repair removes a volume without a record; a
			// marker without a volume is all that is left of one.
			if !exists(d.imageDir(fp)) {
				_ = os.Remove(m)
			}
			continue
		}
		slog.Warn("image volume made before the host went down, not written back: unpacking it again", "volume", fp)
		if err := d.redoImageVolume(fp, unpack); err != nil {
			errs = append(errs, fmt.Errorf("unpack image volume %s again: %w", fp, err))
		}
	}
	return errors.Join(errs...)
}

// redoImageVolume unpacks fp again beside its volume, syncs it, and swaps
// the two in one rename: the layered volumes' references are by name, and
// a crash leaves either tree whole (and the marker, so start-up redoes it).
func (d *Driver) redoImageVolume(fp string, unpack func(dir string) error) error {
	dst := d.imageDir(fp)
	tmp := dst + ".partial"
	_ = removeAll(tmp)
	if err := os.Mkdir(tmp, 0o711); err != nil {
		return err
	}
	err := unpack(tmp)
	if err == nil {
		err = durable.Tree(tmp)
	}
	if err == nil {
		err = unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dst, unix.RENAME_EXCHANGE)
	}
	if err == nil {
		err = durable.Dir(filepath.Dir(dst))
	}
	if err == nil {
		err = os.Remove(d.unsyncedMarker(fp))
	}
	if err == nil {
		err = durable.Dir(filepath.Dir(dst))
	}
	_ = removeAll(tmp) // the old tree, or what the unpack left
	return err
}

// layersMounted says whether any volume of the pool is mounted (a layered
// volume's overlay).
func (d *Driver) layersMounted() bool {
	mounts, err := procfs.Mounts()
	if err != nil {
		return true // unknown: the safe answer, which only writes back
	}
	for _, m := range mounts {
		if strings.HasPrefix(m.Mountpoint, d.Root+"/") {
			return true
		}
	}
	return false
}
