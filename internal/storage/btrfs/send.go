package btrfs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/lodge-project/lodge/internal/storage"
)

// Copies between two btrfs pools go as btrfs send streams, each snapshot
// sent against the one before it, so the copy's snapshots share their
// unchanged blocks as the source's do, and nothing is walked file by file.

// SendVolume copies src (or its snapshot srcSnap) with snaps, oldest
// first, to dst on pool to, another btrfs pool. A failure leaves nothing
// on to.
func (d *Driver) SendVolume(ctx context.Context, src storage.Volume, srcSnap string, snaps []string, to storage.Driver, dst storage.Volume) (err error) {
	t, ok := to.(*Driver)
	if !ok {
		return fmt.Errorf("send to a %s pool: not btrfs", to.Name())
	}
	if err := check(dst); err != nil {
		return err
	}
	if exists(t.VolumePath(dst)) {
		return fmt.Errorf("volume %q already exists", dst.Name)
	}
	if err := t.typeDir(dst); err != nil {
		return err
	}
	// Snapshots land in their folder under a temporary name (a read-only
	// subvolume cannot move between folders, a plain folder can), the
	// volume in a subvolume beside the copy's place; start-up repair
	// removes either as a leftover.
	snapsTmp := t.SnapsDir(dst) + ".partial"
	if len(snaps) > 0 {
		if err := t.deleteSnapshots(snapsTmp); err != nil {
			return err
		}
		if err := os.MkdirAll(snapsTmp, 0o711); err != nil {
			return err
		}
		defer func() {
			if err != nil {
				_ = t.deleteSnapshots(snapsTmp)
				_ = t.deleteSnapshots(t.SnapsDir(dst))
			}
		}()
	}
	recv := t.VolumePath(dst) + ".partial"
	if err := deleteSubvolume(recv); err != nil {
		return err
	}
	if err := createSubvolume(recv); err != nil {
		return err
	}
	defer func() { _ = deleteSubvolume(recv) }()
	parent := ""
	for _, s := range snaps {
		if err := send(ctx, d.SnapPath(src, s), parent, snapsTmp); err != nil {
			return fmt.Errorf("send snapshot %s: %w", s, err)
		}
		parent = d.SnapPath(src, s)
	}
	// The volume itself goes as a read-only snapshot of it (a snapshot
	// asked for is one already).
	base := d.SnapPath(src, srcSnap)
	if srcSnap == "" {
		tmp := d.VolumePath(src) + ".partial"
		if err := os.Mkdir(tmp, 0o700); err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(tmp) }()
		base = filepath.Join(tmp, "volume")
		if err := snapshot(d.VolumePath(src), base, true); err != nil {
			return err
		}
		defer func() { _ = deleteSubvolume(base) }()
	}
	if err := send(ctx, base, parent, recv); err != nil {
		return fmt.Errorf("send %s: %w", src.Name, err)
	}
	// Into place: the snapshots' folder, then the volume, writable.
	if len(snaps) > 0 {
		if err := os.MkdirAll(filepath.Dir(t.SnapsDir(dst)), storage.TypeDirMode(dst.Type)); err != nil {
			return err
		}
		if err := os.Rename(snapsTmp, t.SnapsDir(dst)); err != nil {
			return err
		}
	}
	return t.snapshotInPlace(filepath.Join(recv, filepath.Base(base)), t.VolumePath(dst))
}

// send streams subvolume path (against parent, when given) into dir with
// btrfs send | btrfs receive.
func send(ctx context.Context, path, parent, dir string) error {
	args := []string{"send", "-q"}
	if parent != "" {
		args = append(args, "-p", parent)
	}
	sender := exec.CommandContext(ctx, "btrfs", append(args, path)...)
	receiver := exec.CommandContext(ctx, "btrfs", "receive", "-q", dir)
	for _, c := range []*exec.Cmd{sender, receiver} {
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	pipe, err := sender.StdoutPipe()
	if err != nil {
		return err
	}
	receiver.Stdin = pipe
	var sendErr, recvErr bytes.Buffer
	sender.Stderr, receiver.Stderr = &sendErr, &recvErr
	if err := receiver.Start(); err != nil {
		return err
	}
	if err := sender.Run(); err != nil {
		_ = receiver.Process.Kill()
		_ = receiver.Wait()
		return fmt.Errorf("btrfs send: %v: %s", err, bytes.TrimSpace(sendErr.Bytes()))
	}
	if err := receiver.Wait(); err != nil {
		return fmt.Errorf("btrfs receive: %v: %s", err, bytes.TrimSpace(recvErr.Bytes()))
	}
	return nil
}
