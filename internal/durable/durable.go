// Package durable makes writes reach the disk before what depends on them.
package durable

import (
	"fmt"
	"io/fs"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Filesystem writes back everything dirty on the filesystem holding
// path: one call for a whole unpacked or copied tree, where an fsync per
// file would cost a journal commit each.
func Filesystem(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}

// Dir makes a directory's entries (a rename into it) durable.
func Dir(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer unix.Close(fd)
	if err := unix.Fsync(fd); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// Tree writes back the files and directories under root, and no one
// else's: on a busy host a syncfs would also wait for every other writer's
// dirty data. A first pass starts writeback of every regular file, so the
// disk sees them all at once; the second fsyncs each file and directory,
// which then mostly waits for that I/O (the first fsync commits the
// filesystem's journal for all the tree's metadata).
func Tree(root string) error {
	var files, dirs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			dirs = append(dirs, path)
		case d.Type().IsRegular():
			files = append(files, path)
			if fd, err := openForSync(path, 0); err == nil {
				_ = unix.SyncFileRange(fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE)
				unix.Close(fd)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sync %s: %w", root, err)
	}
	for _, p := range files {
		if err := syncOne(p, 0); err != nil {
			return err
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := syncOne(dirs[i], unix.O_DIRECTORY); err != nil {
			return err
		}
	}
	return nil
}

func openForSync(path string, flags int) (int, error) {
	return unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOATIME|flags, 0)
}

func syncOne(path string, flags int) error {
	fd, err := openForSync(path, flags)
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	defer unix.Close(fd)
	if err := unix.Fsync(fd); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}
