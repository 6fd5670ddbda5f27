package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lodge-project/lodge/internal/storage/copytree"
)

// Sender is a driver that copies volumes to another pool of its own kind
// as its own stream (Capabilities.SendReceive), keeping what snapshots
// share.
type Sender interface {
	SendVolume(ctx context.Context, src Volume, srcSnap string, snaps []string, to Driver, dst Volume) error
}

// CopyAcross copies volume src of pool from (or its snapshot srcSnap) to
// dst on pool to: as the driver's own stream between pools of one driver
// that has one (Sender), else tree by tree: each of snaps (src's snapshots, oldest first) is copied into dst
// and snapshotted there, then the volume itself. Files keep their owners.
// A failure removes dst.
func CopyAcross(ctx context.Context, from Driver, src Volume, srcSnap string, snaps []string, to Driver, dst Volume) error {
	if s, ok := from.(Sender); ok && from.Name() == to.Name() && from.Capabilities().SendReceive {
		if err := s.SendVolume(ctx, src, srcSnap, snaps, to, dst); err != nil {
			return fmt.Errorf("copy %s from pool %q to pool %q: %w", src.Name, src.Pool, dst.Pool, err)
		}
		return nil
	}
	if err := to.CreateEmptyVolume(dst); err != nil {
		return err
	}
	err := copyAcross(ctx, from, src, srcSnap, snaps, to, dst)
	if err != nil {
		_ = to.DeleteVolume(dst)
		return fmt.Errorf("copy %s from pool %q to pool %q: %w", src.Name, src.Pool, dst.Pool, err)
	}
	return nil
}

func copyAcross(ctx context.Context, from Driver, src Volume, srcSnap string, snaps []string, to Driver, dst Volume) error {
	into := to.VolumePath(dst)
	fill := func(dir string) error { return mirrorInto(ctx, dir, into, dst.Type) }
	for _, s := range snaps {
		if err := from.ViewSnapshot(ctx, src, s, fill); err != nil {
			return fmt.Errorf("snapshot %s: %w", s, err)
		}
		if err := to.CreateSnapshot(ctx, dst, s); err != nil {
			return fmt.Errorf("snapshot %s: %w", s, err)
		}
	}
	if srcSnap != "" {
		return from.ViewSnapshot(ctx, src, srcSnap, fill)
	}
	if err := from.MountVolume(src); err != nil {
		return err
	}
	return fill(from.VolumePath(src))
}

// mirrorInto makes the volume directory into hold what the tree dir of a
// volume of type typ holds: emptied, then copied entry by entry (owners,
// links and all).
func mirrorInto(ctx context.Context, dir, into string, typ VolumeType) error {
	if err := EmptyDir(into); err != nil {
		return err
	}
	// An instance's volume holds its rootfs/ and the image's metadata
	// beside what the driver keeps there; a custom volume's files are all
	// its own.
	entries := []string{"rootfs", "metadata.yaml", "templates"}
	if typ == TypeCustom {
		list, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		entries = entries[:0]
		for _, e := range list {
			entries = append(entries, e.Name())
		}
	}
	for _, name := range entries {
		if _, err := os.Lstat(filepath.Join(dir, name)); os.IsNotExist(err) {
			continue
		}
		if err := copytree.Copy(ctx, filepath.Join(dir, name), filepath.Join(into, name), copytree.Options{}); err != nil {
			return err
		}
	}
	return nil
}

// EmptyDir removes what dir holds, leaving dir; read-only directories in
// it (an image may ship some) are made writable first.
func EmptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if os.RemoveAll(p) == nil {
			continue
		}
		_ = filepath.WalkDir(p, func(q string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				_ = os.Chmod(q, 0o700)
			}
			return nil
		})
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	return nil
}
