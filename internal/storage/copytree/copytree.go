// Package copytree copies a root filesystem tree fast and exactly: file
// data by reflink where the filesystem has it (else copy_file_range, in
// the kernel), several files at once, with modes, owners, times, xattrs
// and hard links kept, and ownership optionally moved to another id map
// in the same pass (so a launch walks the tree once).
package copytree

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/idmap"
)

// Options say how ids change on the way: from one map (nil: host ids) to
// another (nil: host ids).
type Options struct {
	From, To *idmap.Map
}

type inodeKey struct{ dev, ino uint64 }

type copier struct {
	ctx   context.Context
	opts  Options
	mu    sync.Mutex
	links map[inodeKey]string // first copy of each multiply-linked file
	jobs  chan job
	wg    sync.WaitGroup
	errMu sync.Mutex
	err   error
}

type job struct {
	src, dst string
	st       unix.Stat_t
}

// Copy copies src (a directory) to dst, which must not exist. It stops,
// with ctx's error, once ctx ends (an operation cancelled): dst is then
// half made, for the caller to remove as after any other failure.
func Copy(ctx context.Context, src, dst string, opts Options) error {
	c := &copier{ctx: ctx, opts: opts, links: map[inodeKey]string{}, jobs: make(chan job, 256)}
	workers := max(2, runtime.NumCPU())
	for i := 0; i < workers; i++ {
		c.wg.Add(1)
		go c.worker()
	}
	var dirs []job  // directories get their times last, after their contents
	var links []job // hard links, made once the first copy exists
	walkErr := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if c.failed() != nil {
			return c.failed()
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			return err
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			if err := os.Mkdir(target, 0o700); err != nil {
				return err
			}
			dirs = append(dirs, job{path, target, st})
			return nil
		case unix.S_IFREG:
			if st.Nlink > 1 {
				key := inodeKey{uint64(st.Dev), st.Ino}
				c.mu.Lock()
				first, seen := c.links[key]
				if !seen {
					c.links[key] = target
				}
				c.mu.Unlock()
				if seen {
					links = append(links, job{src: first, dst: target})
					return nil
				}
			}
			c.jobs <- job{path, target, st}
			return nil
		case unix.S_IFLNK:
			return c.symlink(path, target, &st)
		default:
			return c.special(path, target, &st)
		}
	})
	close(c.jobs)
	c.wg.Wait()
	if walkErr != nil {
		return walkErr
	}
	if err := c.failed(); err != nil {
		return err
	}
	for _, l := range links {
		if err := os.Link(l.src, l.dst); err != nil {
			return err
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- { // deepest first
		if err := c.finish(dirs[i].src, dirs[i].dst, &dirs[i].st); err != nil {
			return err
		}
	}
	return nil
}

func (c *copier) failed() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

func (c *copier) fail(err error) {
	c.errMu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.errMu.Unlock()
}

func (c *copier) worker() {
	defer c.wg.Done()
	for j := range c.jobs {
		if c.failed() != nil {
			continue
		}
		if err := c.ctx.Err(); err != nil {
			c.fail(err)
			continue
		}
		if err := c.file(j.src, j.dst, &j.st); err != nil {
			c.fail(err)
		}
	}
}

// file copies a regular file's data: reflink, else copy_file_range.
func (c *copier) file(src, dst string, st *unix.Stat_t) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	if st.Size > 0 {
		if err := unix.IoctlFileClone(int(out.Fd()), int(in.Fd())); err != nil {
			if err := copyRange(in, out, st.Size); err != nil {
				return fmt.Errorf("copy %s: %w", src, err)
			}
		}
	}
	return c.finishFd(src, out, st)
}

func copyRange(in, out *os.File, size int64) error {
	for done := int64(0); done < size; {
		n, err := unix.CopyFileRange(int(in.Fd()), nil, int(out.Fd()), nil, int(size-done), 0)
		if err != nil {
			if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
				_, err := in.Seek(done, 0)
				if err == nil {
					_, err = out.ReadFrom(in)
				}
				return err
			}
			return err
		}
		if n == 0 {
			break // the file shrank meanwhile
		}
		done += int64(n)
	}
	return nil
}

func (c *copier) ids(st *unix.Stat_t) (int, int) {
	uid, gid := c.opts.From.UnshiftUID(st.Uid), c.opts.From.UnshiftGID(st.Gid)
	return int(c.opts.To.ShiftUID(uid)), int(c.opts.To.ShiftGID(gid))
}

// shiftACL moves the ids a POSIX ACL (access, or a directory's default)
// names as the owners move: an ACL copied as it is would name host ids
// outside the copy's map. Any other xattr, or an ACL that does not parse,
// is returned as it is.
func (c *copier) shiftACL(name string, val []byte) []byte {
	if name != "system.posix_acl_access" && name != "system.posix_acl_default" {
		return val
	}
	out, ok := idmap.ShiftACL(val, func(id uint32, gid bool) (uint32, bool) {
		if gid {
			return c.opts.To.ShiftGID(c.opts.From.UnshiftGID(id)), true
		}
		return c.opts.To.ShiftUID(c.opts.From.UnshiftUID(id)), true
	})
	if !ok {
		return val
	}
	return out
}

// finishFd sets owner, xattrs, mode and times on an open file.
func (c *copier) finishFd(src string, f *os.File, st *unix.Stat_t) error {
	fd := int(f.Fd())
	uid, gid := c.ids(st)
	if err := unix.Fchown(fd, uid, gid); err != nil {
		return err
	}
	if err := copyXattrs(src, func(name string, val []byte) error {
		if name == "security.capability" {
			val = idmap.CapsFor(val, c.opts.To)
		}
		return unix.Fsetxattr(fd, name, c.shiftACL(name, val), 0)
	}); err != nil {
		return err
	}
	if err := unix.Fchmod(fd, st.Mode&0o7777); err != nil {
		return err
	}
	return unix.Futimes(fd, []unix.Timeval{unix.NsecToTimeval(unix.TimespecToNsec(st.Atim)), unix.NsecToTimeval(unix.TimespecToNsec(st.Mtim))})
}

// finish sets owner, xattrs, mode and times on a directory or node by path.
func (c *copier) finish(src, dst string, st *unix.Stat_t) error {
	uid, gid := c.ids(st)
	if err := unix.Lchown(dst, uid, gid); err != nil {
		return err
	}
	if err := copyXattrs(src, func(name string, val []byte) error { return unix.Lsetxattr(dst, name, c.shiftACL(name, val), 0) }); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		if err := unix.Chmod(dst, st.Mode&0o7777); err != nil {
			return err
		}
	}
	return unix.UtimesNanoAt(unix.AT_FDCWD, dst, []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW)
}

func (c *copier) symlink(src, dst string, st *unix.Stat_t) error {
	target, err := os.Readlink(src)
	if err != nil {
		return err
	}
	if err := os.Symlink(target, dst); err != nil {
		return err
	}
	return c.finish(src, dst, st)
}

// special recreates device nodes, fifos and sockets.
func (c *copier) special(src, dst string, st *unix.Stat_t) error {
	if err := unix.Mknod(dst, st.Mode, int(st.Rdev)); err != nil {
		return fmt.Errorf("recreate %s: %w", src, err)
	}
	return c.finish(src, dst, st)
}

// copyXattrs calls set for each extended attribute of path.
func copyXattrs(path string, set func(name string, val []byte) error) error {
	size, err := unix.Llistxattr(path, nil)
	if err != nil || size == 0 {
		return nil // no xattr support, or none
	}
	buf := make([]byte, size)
	size, err = unix.Llistxattr(path, buf)
	if err != nil {
		return nil
	}
	for _, name := range splitNul(buf[:size]) {
		vsize, err := unix.Lgetxattr(path, name, nil)
		if err != nil {
			continue
		}
		val := make([]byte, vsize)
		vsize, err = unix.Lgetxattr(path, name, val)
		if err != nil {
			continue
		}
		if err := set(name, val[:vsize]); err != nil && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("xattr %s of %s: %w", name, path, err)
		}
	}
	return nil
}

func splitNul(b []byte) []string {
	var out []string
	start := 0
	for i, c := range b {
		if c == 0 {
			if i > start {
				out = append(out, string(b[start:i]))
			}
			start = i + 1
		}
	}
	return out
}
