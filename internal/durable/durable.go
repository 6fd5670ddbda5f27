// Package durable makes writes reach the disk before what depends on them.
package durable

import (
	"fmt"

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
