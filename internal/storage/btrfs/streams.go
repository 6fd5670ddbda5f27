package btrfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/storage"
)

// Optimized backups carry btrfs send streams, as LXD's do: each snapshot
// sent against the one before it, then the volume against the last.

// WriteStream writes the stream spec asks for to w: a snapshot, or the
// volume as a read-only snapshot of it with spec.Top's files added, whole
// or against a snapshot or the export base. It returns the sent
// subvolume's uuid, which the stream carries.
func (d *Driver) WriteStream(ctx context.Context, v storage.Volume, spec storage.StreamSpec, w io.Writer) (string, error) {
	src := d.SnapPath(v, spec.Snapshot)
	if spec.Snapshot == "" {
		// Made beside the export base: a read-only subvolume cannot move
		// to another folder, and it may become the base.
		src = d.exportBase(v) + ".partial"
		if err := os.MkdirAll(filepath.Dir(src), 0o700); err != nil {
			return "", err
		}
		if err := deleteSubvolume(src); err != nil {
			return "", err
		}
		if err := snapshot(d.VolumePath(v), src, false); err != nil {
			return "", err
		}
		defer func() { _ = deleteSubvolume(src) }()
		for name, data := range spec.Top {
			if err := os.WriteFile(filepath.Join(src, name), data, 0o600); err != nil {
				return "", err
			}
		}
		if err := setReadOnly(src, true); err != nil {
			return "", err
		}
	}
	id, err := subvolumeUUID(src)
	if err != nil {
		return "", err
	}
	args := []string{"send", "-q"}
	switch {
	case spec.FromBase:
		base := d.exportBase(v)
		if !isSubvolume(base) {
			return "", apierr.BadRequest("volume %q has no export base to send the changes since: make a whole export first", v.Name)
		}
		args = append(args, "-p", base)
	case spec.Parent != "":
		args = append(args, "-p", d.SnapPath(v, spec.Parent))
	}
	cmd := exec.CommandContext(ctx, "btrfs", append(args, src)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = w, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("btrfs send %s: %v: %s", filepath.Base(src), err, bytes.TrimSpace(stderr.Bytes()))
	}
	if spec.Snapshot == "" && spec.KeepBase {
		// The old base goes first: a crash between leaves none, and the
		// next incremental export is refused until a whole one.
		base := d.exportBase(v)
		if err := deleteSubvolume(base); err != nil {
			return "", err
		}
		if err := os.Rename(src, base); err != nil {
			return "", err
		}
	}
	return id, nil
}

// exportBase is where v's export base is kept: what its last export sent
// as the volume, read-only, for the next one to send the changes since.
func (d *Driver) exportBase(v storage.Volume) string {
	return filepath.Join(d.Root, storage.LayoutDirs[v.Type]+"-exports", v.StorageName())
}

// StreamID is the uuid of v's snapshot snap, or of its export base.
func (d *Driver) StreamID(v storage.Volume, snap string) (string, error) {
	path := d.SnapPath(v, snap)
	if snap == "" {
		path = d.exportBase(v)
		if !isSubvolume(path) {
			return "", nil
		}
	}
	return subvolumeUUID(path)
}

// receiveMu serialises receives: a stream finds its parent by received
// uuid, which must be unique on the filesystem while it does, and pools
// may share one.
var receiveMu sync.Mutex

// received is one stream received in an import.
type received struct {
	VolumeStream storage.VolumeStream
	path         string
	id           uint64
	own          uuid // the uuid its stream gave it: its received uuid
}

// ReceiveStreams makes v and its snapshots from untrusted streams. Each
// is received into a folder of its own in a scratch subvolume, where it
// may name as its parent only a stream received before it; then writable
// snapshots of them are fixed, sealed and moved into place, and the
// scratch subvolume goes with everything received.
func (d *Driver) ReceiveStreams(ctx context.Context, v storage.Volume, next func() (storage.VolumeStream, error), fix func(dir, snap string) error) (err error) {
	dst, err := d.newVolumePath(v)
	if err != nil {
		return err
	}
	receiveMu.Lock()
	defer receiveMu.Unlock()
	b, done, err := d.newReceiving(v, dst+".receive.partial")
	if err != nil {
		return err
	}
	defer done()
	if err := b.receiveAll(ctx, next); err != nil {
		return err
	}
	snapsTmp := d.SnapsDir(v) + ".partial"
	if err := d.deleteSnapshots(snapsTmp); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = d.deleteSnapshots(snapsTmp)
			_ = d.deleteSnapshots(d.SnapsDir(v))
			_ = deleteSubvolume(dst)
		}
	}()
	defer func() { _ = deleteSubvolume(dst + ".partial") }()
	snaps, err := b.fixedCopies(snapsTmp, dst+".partial", fix)
	if err != nil {
		return err
	}
	for _, n := range snaps {
		if err := setReadOnly(filepath.Join(snapsTmp, n), true); err != nil {
			return err
		}
	}
	if len(snaps) > 0 {
		if err := os.MkdirAll(filepath.Dir(d.SnapsDir(v)), storage.TypeDirMode(v.Type)); err != nil {
			return err
		}
		if err := os.Rename(snapsTmp, d.SnapsDir(v)); err != nil {
			return err
		}
	}
	if err := d.snapshotInPlace(dst+".partial", dst); err != nil {
		return err
	}
	return d.keepReceived(v, b)
}

// fixAll runs fix on n trees, as many at once as there are CPUs, and
// returns the first error.
func fixAll(n int, fix func(i int) error) error {
	errs := make([]error, n)
	sem := make(chan struct{}, runtime.NumCPU())
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = fix(i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// receiving is a batch of streams being received: each into a folder
// of its own in scratch (the one to keep into keepDir), each naming as
// its parent only one received before it in the batch (got, by the uuid
// its stream gave it).
type receiving struct {
	scratch string
	keepDir string // "": no stream may be kept
	got     []received
	byUUID  map[uuid]int
}

// newReceiving readies a batch of streams for v: an empty scratch
// subvolume at scratch, and the folder a stream to keep goes to (see
// keepReceived). done removes what the batch leaves there.
func (d *Driver) newReceiving(v storage.Volume, scratch string) (b *receiving, done func(), err error) {
	if err := deleteSubvolume(scratch); err != nil {
		return nil, nil, err
	}
	if err := createSubvolume(scratch); err != nil {
		return nil, nil, err
	}
	keep, err := d.newKeepDir(v)
	if err != nil {
		_ = deleteSubvolume(scratch)
		return nil, nil, err
	}
	return &receiving{scratch: scratch, keepDir: keep, byUUID: map[uuid]int{}}, func() {
		_ = deleteSubvolume(scratch)
		_ = deleteReceived(keep) // gone already when kept
	}, nil
}

// fixedCopies makes writable snapshots of what b received, each
// snapshot's in snapsTmp and the volume's (the last stream that is not a
// base) at volTmp, and fixes them side by side (each fix walks its
// tree). It returns the snapshots' names, in the streams' order.
func (b *receiving) fixedCopies(snapsTmp, volTmp string, fix func(dir, snap string) error) ([]string, error) {
	last := -1
	for i, r := range b.got {
		if !r.VolumeStream.Base && r.VolumeStream.Snapshot == "" {
			last = i
		}
	}
	if last < 0 {
		return nil, apierr.BadRequest("no stream of the volume itself came")
	}
	type tree struct{ from, path, snap string }
	var trees []tree
	var snaps []string
	for _, r := range b.got {
		if n := r.VolumeStream.Snapshot; !r.VolumeStream.Base && n != "" {
			trees = append(trees, tree{r.path, filepath.Join(snapsTmp, n), n})
			snaps = append(snaps, n)
		}
	}
	trees = append(trees, tree{b.got[last].path, volTmp, ""})
	if len(snaps) > 0 {
		if err := os.MkdirAll(snapsTmp, 0o711); err != nil {
			return nil, err
		}
	}
	for _, t := range trees {
		if err := deleteSubvolume(t.path); err != nil {
			return nil, err
		}
		if err := snapshot(t.from, t.path, false); err != nil {
			return nil, err
		}
	}
	return snaps, fixAll(len(trees), func(i int) error { return fix(trees[i].path, trees[i].snap) })
}

// receiveAll receives every stream next gives.
func (b *receiving) receiveAll(ctx context.Context, next func() (storage.VolumeStream, error)) error {
	seen := map[string]bool{}
	kept := false
	for i := 0; ; i++ {
		s, err := next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		key := s.Snapshot
		if s.Base {
			key = "base " + strconv.Itoa(i)
		}
		if seen[key] {
			return apierr.BadRequest("the backup holds snapshot %q twice", s.Snapshot)
		}
		seen[key] = true
		dir := filepath.Join(b.scratch, strconv.Itoa(i))
		if s.Keep {
			if b.keepDir == "" || kept || s.Snapshot == "" {
				return fmt.Errorf("only one snapshot's stream is kept, where a folder is given for it")
			}
			kept, dir = true, b.keepDir
		} else if err := os.Mkdir(dir, 0o700); err != nil {
			return err
		}
		// A parent must be a stream of this import, and the uuid tree
		// must lead receive to that one alone.
		parent := func(id uuid) error {
			j, ok := b.byUUID[id]
			if !ok {
				return fmt.Errorf("the stream names a parent subvolume that the backup does not hold before it")
			}
			ids, err := receivedBy(b.scratch, id)
			if err != nil {
				return err
			}
			if !slices.Equal(ids, []uint64{b.got[j].id}) {
				return fmt.Errorf("the stream's parent subvolume is not unique on this pool")
			}
			return nil
		}
		own, err := receive(ctx, dir, s.R, streamCheck{parent: parent})
		if err != nil {
			what := "the volume's stream"
			if s.Snapshot != "" {
				what = fmt.Sprintf("snapshot %q's stream", s.Snapshot)
			}
			return apierr.BadRequest("the backup's %s: %v", what, err)
		}
		path, err := onlyEntry(dir)
		if err != nil {
			return err
		}
		id, err := subvolumeTreeID(path)
		if err != nil {
			return err
		}
		b.byUUID[own] = len(b.got)
		b.got = append(b.got, received{VolumeStream: s, path: path, id: id, own: own})
	}
}

// receive runs btrfs receive into dir on the stream r, checked on its way.
func receive(ctx context.Context, dir string, r io.Reader, c streamCheck) (uuid, error) {
	// -e: stop at the stream's end; -C: confined to dir.
	cmd := exec.CommandContext(ctx, "btrfs", "receive", "-q", "-e", "-C", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pr, stdin, err := os.Pipe()
	if err != nil {
		return uuid{}, err
	}
	// A larger pipe: fewer turns between the checker and btrfs receive
	// on a stream of many megabytes (best effort).
	_, _ = unix.FcntlInt(stdin.Fd(), unix.F_SETPIPE_SZ, 1<<20)
	cmd.Stdin = pr
	err = cmd.Start()
	pr.Close()
	if err != nil {
		stdin.Close()
		return uuid{}, err
	}
	own, checkErr := c.copy(r, stdin)
	_ = stdin.Close()
	if checkErr != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if msg := bytes.TrimSpace(stderr.Bytes()); len(msg) > 0 {
			return own, fmt.Errorf("%w (btrfs receive: %s)", checkErr, msg)
		}
		return own, checkErr
	}
	if err := cmd.Wait(); err != nil {
		return own, fmt.Errorf("btrfs receive: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return own, nil
}

// onlyEntry is the one subvolume a receive made in dir.
func onlyEntry(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	if len(entries) != 1 || !isSubvolume(filepath.Join(dir, entries[0].Name())) {
		return "", apierr.BadRequest("the backup's stream did not make one subvolume")
	}
	return filepath.Join(dir, entries[0].Name()), nil
}
