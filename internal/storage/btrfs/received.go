package btrfs

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/durable"
	"github.com/lodge-project/lodge/internal/storage"
)

// A volume received from another host keeps its received base: its last
// snapshot as the stream made it, read-only, its files still on the
// source's ids and its received uuid the source's snapshot's. btrfs
// receive finds the parent of an incremental stream by that uuid, so a
// refresh (lxc copy --refresh) can then come as the changes since that
// snapshot rather than as every file. The base lives in
// <type>-received/<volume>/, with base.json naming the snapshot it is.

const baseFile = "base.json"

// receivedBase is what base.json says.
type receivedBase struct {
	Snapshot string `json:"snapshot"`
	UUID     string `json:"uuid"` // the received uuid, hex
}

// receivedDir is where v's received base is kept.
func (d *Driver) receivedDir(v storage.Volume) string {
	return filepath.Join(d.Root, storage.LayoutDirs[v.Type]+"-received", v.StorageName())
}

// newKeepDir makes the empty folder a received base is received into.
func (d *Driver) newKeepDir(v storage.Volume) (string, error) {
	dir := d.receivedDir(v) + ".partial"
	if err := deleteReceived(dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return dir, nil
}

// deleteReceived destroys a received base's folder, its subvolume too.
func deleteReceived(dir string) error {
	names, err := storage.ListDir(dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		if n == baseFile {
			continue
		}
		if err := deleteSubvolume(filepath.Join(dir, n)); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// keepReceived makes the stream b kept (if any) v's received base, in
// place of the one before; a batch that kept none leaves it.
func (d *Driver) keepReceived(v storage.Volume, b *receiving) error {
	for _, r := range b.got {
		if !r.VolumeStream.Keep {
			continue
		}
		data, err := json.Marshal(receivedBase{Snapshot: r.VolumeStream.Snapshot, UUID: hex.EncodeToString(r.own[:])})
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(b.keepDir, baseFile), data, 0o600); err != nil {
			return err
		}
		if err := deleteReceived(d.receivedDir(v)); err != nil {
			return err
		}
		// The folder moves, not the read-only subvolume in it (which
		// cannot change folders).
		if err := os.Rename(b.keepDir, d.receivedDir(v)); err != nil {
			return err
		}
		return durable.Dir(filepath.Dir(d.receivedDir(v)))
	}
	return nil
}

// base reads v's received base: what it is, its subvolume, its id.
func (d *Driver) base(v storage.Volume) (receivedBase, string, uuid, bool) {
	var rb receivedBase
	var id uuid
	dir := d.receivedDir(v)
	data, err := os.ReadFile(filepath.Join(dir, baseFile))
	if err != nil || json.Unmarshal(data, &rb) != nil {
		return rb, "", id, false
	}
	raw, err := hex.DecodeString(rb.UUID)
	if err != nil || len(raw) != len(id) {
		return rb, "", id, false
	}
	copy(id[:], raw)
	path, err := onlyEntryExcept(dir, baseFile)
	if err != nil {
		return rb, "", id, false
	}
	return rb, path, id, true
}

// ReceivedBase names the snapshot whose received picture v keeps, when
// it is the only subvolume of the pool received from that picture (a
// second copy of one source on this pool has one too: then a stream
// could not say which it means, and a refresh goes by files). It does not
// wait for receives under way (a request asks it): RefreshStreams checks
// again, under the lock, before any stream names the base. id is the
// uuid of the source's subvolume the picture was received from.
func (d *Driver) ReceivedBase(v storage.Volume) (snap, id string) {
	rb, path, own, ok := d.base(v)
	if !ok || !isSubvolume(d.SnapPath(v, rb.Snapshot)) {
		return "", ""
	}
	tree, err := subvolumeTreeID(path)
	if err != nil {
		return "", ""
	}
	if ids, err := receivedBy(path, own); err != nil || len(ids) != 1 || ids[0] != tree {
		return "", ""
	}
	return rb.Snapshot, own.String()
}

// RefreshStreams receives new snapshots and the volume, the first stream
// against v's received base, into a scratch subvolume; the new snapshots'
// writable copies are fixed and sealed in v's snapshots folder, the
// volume's is exchanged with v in one rename, and the last new snapshot
// as received becomes the received base.
func (d *Driver) RefreshStreams(ctx context.Context, v storage.Volume, next func() (storage.VolumeStream, error), fix func(dir, snap string) error) (err error) {
	dst := d.VolumePath(v)
	if !isSubvolume(dst) {
		return fmt.Errorf("volume %q is not there to refresh", v.Name)
	}
	receiveMu.Lock()
	defer receiveMu.Unlock()
	rb, basePath, baseID, ok := d.base(v)
	if !ok {
		return apierr.BadRequest("volume %q keeps no received base to refresh against", v.Name)
	}
	baseTree, err := subvolumeTreeID(basePath)
	if err != nil {
		return err
	}
	b, done, err := d.newReceiving(v, dst+".refresh.partial")
	if err != nil {
		return err
	}
	defer done()
	// The base is the one parent from outside the batch.
	b.byUUID[baseID] = 0
	b.got = []received{{VolumeStream: storage.VolumeStream{Base: true, Snapshot: rb.Snapshot}, path: basePath, id: baseTree, own: baseID}}
	if err := b.receiveAll(ctx, next); err != nil {
		return err
	}
	snapsTmp := d.SnapsDir(v) + ".partial"
	if err := d.deleteSnapshots(snapsTmp); err != nil {
		return err
	}
	defer func() { _ = d.deleteSnapshots(snapsTmp) }()
	fresh := dst + ".partial"
	defer func() { _ = deleteSubvolume(fresh) }()
	snaps, err := b.fixedCopies(snapsTmp, fresh, fix)
	if err != nil {
		return err
	}
	// The snapshots move in while writable (a read-only one cannot
	// change folders), replacing any a crash left without a record.
	if len(snaps) > 0 {
		if err := os.MkdirAll(d.SnapsDir(v), 0o711); err != nil {
			return err
		}
	}
	for _, n := range snaps {
		final := d.SnapPath(v, n)
		if err := deleteSubvolume(final); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(snapsTmp, n), final); err != nil {
			return err
		}
		if err := setReadOnly(final, true); err != nil {
			return err
		}
	}
	if err := durable.Filesystem(fresh); err != nil {
		return err
	}
	if err := unix.Renameat2(unix.AT_FDCWD, fresh, unix.AT_FDCWD, dst, unix.RENAME_EXCHANGE); err != nil {
		return fmt.Errorf("swap the refreshed volume in: %w", err)
	}
	// fresh now holds the volume as it was, which the deferred delete
	// takes.
	return d.keepReceived(v, b)
}

// onlyEntryExcept is the one subvolume in dir, beside the file except.
func onlyEntryExcept(dir, except string) (string, error) {
	names, err := storage.ListDir(dir)
	if err != nil {
		return "", err
	}
	var found string
	for _, n := range names {
		if n == except {
			continue
		}
		if found != "" || !isSubvolume(filepath.Join(dir, n)) {
			return "", fmt.Errorf("%s holds more than one subvolume", dir)
		}
		found = filepath.Join(dir, n)
	}
	if found == "" {
		return "", fmt.Errorf("%s holds no subvolume", dir)
	}
	return found, nil
}
