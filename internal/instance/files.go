package instance

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/apierr"
)

// FileInfo describes a path inside an instance, in the instance's own ids.
type FileInfo struct {
	UID, GID uint32
	Mode     uint32 // permission bits, setuid/setgid/sticky included
	Type     string // file, directory or symlink
	Entries  []string
	Target   string
}

// maxSymlinks bounds link resolution, as the kernel's ELOOP does.
const maxSymlinks = 40

// walker resolves paths inside a root one component at a time, through
// file descriptors only: no absolute path or ".." ever reaches the kernel,
// so nothing the instance puts in its tree can lead outside it. Absolute
// links restart at the instance's root; a ".." above the root is refused.
type walker struct {
	stack []int // fds from the root down to the current directory
	links int
}

func (w *walker) close() {
	for _, fd := range w.stack {
		unix.Close(fd)
	}
}

func (w *walker) top() int { return w.stack[len(w.stack)-1] }

// walk follows components; the last is followed only if followLast.
// It returns the fd of the last directory and the final name ("" for the
// root itself).
func (w *walker) walk(components []string, followLast bool) (string, error) {
	for len(components) > 0 {
		c := components[0]
		components = components[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(w.stack) == 1 {
				return "", apierr.BadRequest("path leads outside the instance's root")
			}
			unix.Close(w.top())
			w.stack = w.stack[:len(w.stack)-1]
			continue
		}
		last := len(components) == 0
		var st unix.Stat_t
		err := unix.Fstatat(w.top(), c, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err != nil {
			if last && errors.Is(err, unix.ENOENT) {
				return c, nil // a new entry in the current directory
			}
			return "", fileErr(c, err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK && (!last || followLast) {
			w.links++
			if w.links > maxSymlinks {
				return "", apierr.BadRequest("too many levels of symbolic links")
			}
			target, err := readlinkat(w.top(), c)
			if err != nil {
				return "", fileErr(c, err)
			}
			if strings.HasPrefix(target, "/") {
				for len(w.stack) > 1 { // back to the instance's root
					unix.Close(w.top())
					w.stack = w.stack[:len(w.stack)-1]
				}
			}
			components = append(strings.Split(target, "/"), components...)
			continue
		}
		if last {
			return c, nil
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return "", apierr.BadRequest("%q is not a directory", c)
		}
		fd, err := unix.Openat(w.top(), c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", fileErr(c, err)
		}
		w.stack = append(w.stack, fd)
	}
	return "", nil
}

func readlinkat(dirfd int, name string) (string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

func fileErr(name string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		return apierr.NotFound("%q does not exist", name)
	case errors.Is(err, unix.ELOOP), errors.Is(err, errLinkInWay):
		// O_NOFOLLOW met a link: one was there, or was put there meanwhile.
		return apierr.BadRequest("%q is a symbolic link: give the path it points to, or remove the link", name)
	case errors.Is(err, unix.ENOTDIR):
		return apierr.BadRequest("a component of %q is not a directory", name)
	case errors.Is(err, unix.EEXIST):
		return apierr.Conflict("%q appeared while it was being written: try again", name)
	case errors.Is(err, errIsDir):
		return apierr.BadRequest("%q is a directory", name)
	case errors.Is(err, errNotRegular):
		return apierr.BadRequest("%q is not a regular file, directory or symlink (a device node, FIFO or socket): the files API does not open those", name)
	}
	return fmt.Errorf("%s: %w", name, err)
}

var (
	errLinkInWay  = errors.New("a symbolic link is in the way")
	errNotRegular = errors.New("not a regular file")
	errIsDir      = errors.New("a directory")
)

// openRegular opens dir/name only if it is a regular file. The entry is
// pinned first with O_PATH, which opens nothing (no FIFO blocks, no device
// driver runs), checked, and reopened through /proc/self/fd: the same
// inode, so a device node, FIFO or link swapped in meanwhile is never
// opened. An instance's tree is hostile: an image may ship a node for a host
// device, which lodged, as host root, must never write through.
func openRegular(dir int, name string, flags int) (*os.File, error) {
	pfd, err := unix.Openat(dir, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return nil, err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFLNK:
		return nil, errLinkInWay
	case unix.S_IFDIR:
		return nil, errIsDir
	default:
		return nil, errNotRegular
	}
	fd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", pfd), flags|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// createRegular makes a new regular file; O_EXCL fails rather than open
// whatever another writer put there meanwhile.
func createRegular(dir int, name string, mode uint32) (*os.File, error) {
	fd, err := unix.Openat(dir, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// openWalker starts at the instance's rootfs.
func (s *Service) openWalker(name, path string) (*walker, []string, Expanded, error) {
	e, _, err := s.load(name)
	if err != nil {
		return nil, nil, e, err
	}
	if path == "" {
		return nil, nil, e, apierr.BadRequest("give a path (?path=)")
	}
	if strings.ContainsRune(path, 0) {
		return nil, nil, e, apierr.BadRequest("the path holds a NUL byte")
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path // lxc sends paths relative to the root when recursing
	}
	rootfs, err := s.rootfs(e)
	if err != nil {
		return nil, nil, e, err
	}
	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, e, fmt.Errorf("open rootfs of %q: %w", name, err)
	}
	return &walker{stack: []int{root}}, strings.Split(path, "/"), e, nil
}

// GetFile opens a path for reading; a directory comes back with its
// entries, a symlink as itself (its target), as LXD's file_get_symlink
// has it: a client follows it, inside the instance, if it wants to.
func (s *Service) GetFile(name, path string) (FileInfo, io.ReadCloser, error) {
	w, comps, e, err := s.openWalker(name, path)
	if err != nil {
		return FileInfo{}, nil, err
	}
	defer w.close()
	final, err := w.walk(comps, false)
	if err != nil {
		return FileInfo{}, nil, err
	}
	target := final
	if target == "" {
		target = "."
	}
	var st unix.Stat_t
	if err := unix.Fstatat(w.top(), target, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return FileInfo{}, nil, fileErr(path, err)
	}
	info := FileInfo{UID: e.IDMap.UnshiftUID(st.Uid), GID: e.IDMap.UnshiftGID(st.Gid), Mode: st.Mode & 0o7777}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		info.Type = "directory"
		fd, err := unix.Openat(w.top(), target, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return info, nil, fileErr(path, err)
		}
		dir := os.NewFile(uintptr(fd), path)
		defer dir.Close()
		info.Entries, err = dir.Readdirnames(-1)
		return info, nil, err
	case unix.S_IFREG:
		info.Type = "file"
		f, err := openRegular(w.top(), target, unix.O_RDONLY)
		if err != nil {
			return info, nil, fileErr(path, err)
		}
		return info, f, nil
	case unix.S_IFLNK:
		info.Type = "symlink"
		info.Target, err = readlinkat(w.top(), target)
		return info, io.NopCloser(strings.NewReader(info.Target)), err
	}
	return info, nil, fileErr(path, errNotRegular)
}

// PutFile writes a file, makes a directory or a symlink. Ids are the
// instance's own; -1 keeps the default (root).
func (s *Service) PutFile(name, path, typ string, uid, gid int64, mode uint32, appendTo bool, body io.Reader) error {
	w, comps, e, err := s.openWalker(name, path)
	if err != nil {
		return err
	}
	defer w.close()
	followLast := typ == "file" // writing through an existing link writes its target
	final, err := w.walk(comps, followLast)
	if err != nil {
		return err
	}
	if final == "" {
		return apierr.BadRequest("cannot write the instance's root directory")
	}
	if uid == -1 {
		uid = 0
	}
	if gid == -1 {
		gid = 0
	}
	// Ids are the instance's own: one its map does not cover would give the
	// file a host owner outside the instance's range (70000 stays 70000,
	// and (uid_t)-1 became host root through the shift's wrap-around).
	if uid < 0 || uid > math.MaxUint32 || !e.IDMap.HasUID(uint32(uid)) {
		return apierr.BadRequest("uid %d is not an id of instance %q (its ids are 0 to %d)", uid, name, idCount(e)-1)
	}
	if gid < 0 || gid > math.MaxUint32 || !e.IDMap.HasGID(uint32(gid)) {
		return apierr.BadRequest("gid %d is not an id of instance %q (its ids are 0 to %d)", gid, name, idCount(e)-1)
	}
	hostUID, hostGID := int(e.IDMap.ShiftUID(uint32(uid))), int(e.IDMap.ShiftGID(uint32(gid)))
	dir := w.top()
	switch typ {
	case "directory":
		if mode == 0 {
			mode = 0o755
		}
		if err := unix.Mkdirat(dir, final, mode&0o777); err != nil && !errors.Is(err, unix.EEXIST) {
			return fileErr(path, err)
		}
		// Through an fd opened without following links: a link planted in
		// place of the directory must not redirect the chown/chmod.
		fd, err := unix.Openat(dir, final, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return apierr.BadRequest("%s exists and is not a directory", path)
		}
		defer unix.Close(fd)
		if err := unix.Fchown(fd, hostUID, hostGID); err != nil {
			return err
		}
		return unix.Fchmod(fd, mode&0o7777)
	case "symlink":
		target, err := io.ReadAll(io.LimitReader(body, 4096))
		if err != nil {
			return err
		}
		if len(target) == 0 || strings.ContainsRune(string(target), 0) {
			return apierr.BadRequest("a symlink's target (the body) must be non-empty and hold no NUL byte")
		}
		_ = unix.Unlinkat(dir, final, 0)
		if err := unix.Symlinkat(string(target), dir, final); err != nil {
			return fileErr(path, err)
		}
		return unix.Fchownat(dir, final, hostUID, hostGID, unix.AT_SYMLINK_NOFOLLOW)
	case "file", "":
		if mode == 0 {
			mode = 0o644
		}
		flags := unix.O_WRONLY
		if appendTo {
			flags |= unix.O_APPEND
		}
		f, err := openRegular(dir, final, flags)
		if errors.Is(err, unix.ENOENT) {
			f, err = createRegular(dir, final, mode&0o777)
		} else if err == nil && !appendTo {
			err = f.Truncate(0)
		}
		if err != nil {
			if f != nil {
				f.Close()
			}
			return fileErr(path, err)
		}
		defer f.Close()
		if _, err := io.Copy(f, body); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := f.Chown(hostUID, hostGID); err != nil {
			return err
		}
		return unix.Fchmod(int(f.Fd()), mode&0o7777)
	}
	return apierr.BadRequest("file type %q is not one of file, directory or symlink", typ)
}

// DeleteFile removes a file, a symlink or an empty directory.
func (s *Service) DeleteFile(name, path string) error {
	w, comps, _, err := s.openWalker(name, path)
	if err != nil {
		return err
	}
	defer w.close()
	final, err := w.walk(comps, false)
	if err != nil {
		return err
	}
	if final == "" {
		return apierr.BadRequest("cannot delete the instance's root directory")
	}
	err = unix.Unlinkat(w.top(), final, 0)
	if errors.Is(err, unix.EISDIR) {
		err = unix.Unlinkat(w.top(), final, unix.AT_REMOVEDIR)
	}
	if err != nil {
		return fileErr(path, err)
	}
	return nil
}

// idCount is how many ids an instance has (all of them when privileged).
func idCount(e Expanded) int64 {
	if e.IDMap == nil {
		return math.MaxUint32
	}
	return int64(e.IDMap.Size)
}
