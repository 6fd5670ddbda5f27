// Package durable makes writes reach the disk before what depends on them.
package durable

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// Filesystem writes back everything dirty on the filesystem holding path
// (what an init does before it powers off).
func Filesystem(path string) error { return onFD(path, 0, unix.Syncfs) }

// Dir makes a directory's entries (a rename into it) durable.
func Dir(dir string) error { return onFD(dir, unix.O_DIRECTORY, unix.Fsync) }

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
			_ = onFD(path, 0, func(fd int) error { return unix.SyncFileRange(fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE) })
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sync %s: %w", root, err)
	}
	if err := inParallel(files, func(p string) error { return onFD(p, 0, unix.Fsync) }); err != nil {
		return err
	}
	return inParallel(dirs, Dir)
}

// syncWorkers fsync at once: the filesystem commits its journal once for
// the fsyncs waiting together, where one at a time each waits for its own.
const syncWorkers = 16

// inParallel runs op on every path with syncWorkers at once, and returns
// the first error.
func inParallel(paths []string, op func(string) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan string)
	)
	for w := 0; w < min(syncWorkers, len(paths)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range next {
				if err := op(p); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, p := range paths {
		next <- p
	}
	close(next)
	wg.Wait()
	return first
}

// onFD runs op on a read-only descriptor of path, never following a
// symlink (a volume's links may point anywhere).
func onFD(path string, flags int, op func(fd int) error) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOATIME|flags, 0)
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	defer unix.Close(fd)
	if err := op(fd); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}
