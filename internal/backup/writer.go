package backup

import (
	"archive/tar"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/durable"
	"github.com/lodge-project/lodge/internal/idmap"
)

// Compressors are the compression_algorithm values and the command that
// compresses to stdout ("none": a plain tarball).
var Compressors = map[string][]string{
	"none":  nil,
	"gzip":  {"gzip", "-c"},
	"zstd":  {"zstd", "-q", "-c", "-T0"},
	"xz":    {"xz", "-c", "-T0"},
	"bzip2": {"bzip2", "-c"},
}

// Writer writes a backup tarball to a file, through a compressor.
type Writer struct {
	tw   *tar.Writer
	file *os.File
	pipe io.WriteCloser
	cmd  *exec.Cmd
	// links maps an inode already written to its name, for hard links
	// within one tree.
	links map[uint64]string
	// stopWriteBehind ends the file's early writeback.
	stopWriteBehind func()
	// sync: Close syncs the file.
	sync bool
}

// Create starts a backup tarball at path, compressed with algorithm
// (one of Compressors; "" is gzip, as LXD's default), synced by Close.
func Create(path, algorithm string) (*Writer, error) { return create(path, algorithm, true) }

// create is Create; without sync, Close leaves the tarball to the
// kernel's writeback (SyncFile makes it durable later).
func create(path, algorithm string, sync bool) (*Writer, error) {
	if algorithm == "" {
		algorithm = "gzip"
	}
	argv, ok := Compressors[algorithm]
	if !ok {
		names := make([]string, 0, len(Compressors))
		for n := range Compressors {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, apierr.BadRequest("compression algorithm %q is not supported (%s)", algorithm, strings.Join(names, ", "))
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	w := &Writer{file: f, links: map[uint64]string{}, stopWriteBehind: func() {}}
	if sync {
		w.stopWriteBehind, w.sync = durable.WriteBehind(f), true
	}
	if argv == nil {
		w.tw = tar.NewWriter(f)
		return w, nil
	}
	w.cmd = exec.Command(argv[0], argv[1:]...)
	w.cmd.Stdout = f
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if w.pipe, err = w.cmd.StdinPipe(); err == nil {
		err = w.cmd.Start()
	}
	if err != nil {
		w.stopWriteBehind()
		f.Close()
		_ = os.Remove(path)
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	w.tw = tar.NewWriter(w.pipe)
	return w, nil
}

// Close finishes the tarball and, unless it is written back later, syncs
// it to disk.
func (w *Writer) Close() error {
	err := w.tw.Close()
	if w.pipe != nil {
		if cerr := w.pipe.Close(); err == nil {
			err = cerr
		}
		if werr := w.cmd.Wait(); err == nil && werr != nil {
			err = fmt.Errorf("%s: %w", w.cmd.Path, werr)
		}
	}
	w.stopWriteBehind()
	if w.sync {
		if serr := w.file.Sync(); err == nil {
			err = serr
		}
	}
	if cerr := w.file.Close(); err == nil {
		err = cerr
	}
	return err
}

// Abort stops writing; the caller removes the file.
func (w *Writer) Abort() {
	if w.cmd != nil && w.cmd.Process != nil {
		_ = w.cmd.Process.Kill()
		_ = w.pipe.Close()
		_ = w.cmd.Wait()
	}
	w.stopWriteBehind()
	w.file.Close()
}

// AddFile writes one regular file (index.yaml, backup.yaml).
func (w *Writer) AddFile(name string, data []byte) error {
	hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: time.Now(), Typeflag: tar.TypeReg}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := w.tw.Write(data)
	return err
}

// AddTree writes the entries top (names in dir, those that exist) and all
// below them as prefix/<name>/..., with owners moved from the map the
// files are on (nil: host ids) to the instance's own ids; files with
// owners outside that map are left out, as LXD does. The tree may be a
// running instance's: it is walked by file descriptors, never following a
// link, so a directory swapped for a link while it is read cannot lead
// the walk out of the tree.
func (w *Writer) AddTree(ctx context.Context, prefix, dir string, top []string, files *idmap.Map) error {
	return w.AddTreeWith(ctx, prefix, dir, top, files, nil)
}

// TreeHook sees each entry of a tree AddTreeWith walks, by its path
// below the tree's prefix, and says whether to write it: a directory not
// written is still walked (an incremental backup writes what changed).
type TreeHook func(rel string, st *unix.Stat_t) bool

// AddTreeWith is AddTree with a hook on each entry.
func (w *Writer) AddTreeWith(ctx context.Context, prefix, dir string, top []string, files *idmap.Map, hook TreeHook) error {
	w.links = map[uint64]string{}
	root, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(root)
	t := treeWalk{w: w, ctx: ctx, files: files, hook: hook, prefix: prefix + "/"}
	for _, name := range top {
		var st unix.Stat_t
		if err := unix.Fstatat(root, name, &st, unix.AT_SYMLINK_NOFOLLOW); errors.Is(err, unix.ENOENT) {
			continue
		} else if err != nil {
			return err
		}
		if err := t.entry(root, name, path.Join(prefix, name), &st); err != nil {
			return err
		}
	}
	return nil
}

type treeWalk struct {
	w      *Writer
	ctx    context.Context
	files  *idmap.Map
	hook   TreeHook
	prefix string
}

// entry writes the entry name of directory fd dirfd as tar name, and
// below it if it is a directory.
func (t *treeWalk) entry(dirfd int, name, tarName string, st *unix.Stat_t) error {
	if err := t.ctx.Err(); err != nil {
		return err
	}
	uid, gid, ok := t.owners(st)
	if !ok {
		return nil
	}
	if t.hook != nil && !t.hook(strings.TrimPrefix(tarName, t.prefix), st) {
		return t.skip(dirfd, name, tarName, st)
	}
	hdr := &tar.Header{Name: tarName, Mode: int64(st.Mode & 07777), Uid: int(uid), Gid: int(gid),
		ModTime: time.Unix(st.Mtim.Unix()), Format: tar.FormatPAX}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		fd, err := openSubdir(dirfd, name)
		if err != nil {
			return skipVanished(err)
		}
		defer unix.Close(fd)
		hdr.Typeflag, hdr.Name = tar.TypeDir, tarName+"/"
		hdr.PAXRecords = t.xattrs(fd)
		if err := t.w.tw.WriteHeader(hdr); err != nil {
			return err
		}
		return t.children(fd, tarName)
	case unix.S_IFREG:
		return t.regular(dirfd, name, hdr, st)
	case unix.S_IFLNK:
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return skipVanished(err)
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, string(buf[:n])
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil // sockets cannot be stored, as in tar
	}
	return t.w.tw.WriteHeader(hdr)
}

// skip leaves an entry the hook declined out: a directory's entries are
// still walked, and a file's hard links still point at its name (which
// the backup it builds on holds).
func (t *treeWalk) skip(dirfd int, name, tarName string, st *unix.Stat_t) error {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		fd, err := openSubdir(dirfd, name)
		if err != nil {
			return skipVanished(err)
		}
		defer unix.Close(fd)
		return t.children(fd, tarName)
	case unix.S_IFREG:
		if _, ok := t.w.links[st.Ino]; !ok && st.Nlink > 1 {
			t.w.links[st.Ino] = tarName
		}
	}
	return nil
}

// openSubdir opens directory name of dirfd, never through a link.
func openSubdir(dirfd int, name string) (int, error) {
	return unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
}

// children writes a directory's entries in name order.
func (t *treeWalk) children(fd int, tarName string) error {
	dup, err := unix.Dup(fd)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(dup), tarName)
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, n := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if skipVanished(err) == nil {
				continue
			}
			return err
		}
		if err := t.entry(fd, n, tarName+"/"+n, &st); err != nil {
			return err
		}
	}
	return nil
}

// regular writes a file's content, read through a descriptor that is the
// file that was listed; what grew after the listing is left out and what
// shrank is padded, as LXD does for a running instance's files.
func (t *treeWalk) regular(dirfd int, name string, hdr *tar.Header, st *unix.Stat_t) error {
	if first, ok := t.w.links[st.Ino]; ok && st.Nlink > 1 {
		hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
		return t.w.tw.WriteHeader(hdr)
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return skipVanished(err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil || now.Ino != st.Ino || now.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil // replaced since it was listed
	}
	if st.Nlink > 1 {
		t.w.links[st.Ino] = hdr.Name
	}
	hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
	hdr.PAXRecords = t.xattrs(fd)
	if err := t.w.tw.WriteHeader(hdr); err != nil {
		return err
	}
	n, err := io.Copy(t.w.tw, io.LimitReader(f, st.Size))
	if err != nil {
		return fmt.Errorf("read %s: %w", hdr.Name, err)
	}
	if n < st.Size {
		_, err = io.CopyN(t.w.tw, zeros{}, st.Size-n)
	}
	return err
}

// owners are the entry's owners as the instance's own ids; false for one
// outside the map its files are on.
func (t *treeWalk) owners(st *unix.Stat_t) (uint32, uint32, bool) {
	if t.files == nil {
		return st.Uid, st.Gid, true
	}
	if !t.files.HasHostUID(st.Uid) || !t.files.HasHostGID(st.Gid) {
		return 0, 0, false
	}
	return t.files.UnshiftUID(st.Uid), t.files.UnshiftGID(st.Gid), true
}

// xattrs are an open file's extended attributes as PAX records, file
// capabilities and ACLs moved to the instance's own ids.
func (t *treeWalk) xattrs(fd int) map[string]string {
	size, err := unix.Flistxattr(fd, nil)
	if err != nil || size == 0 {
		return nil
	}
	buf := make([]byte, size)
	if size, err = unix.Flistxattr(fd, buf); err != nil {
		return nil
	}
	out := map[string]string{}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:size]), "\x00"), "\x00") {
		val := fgetxattr(fd, name)
		if val == nil {
			continue
		}
		switch name {
		case "security.capability":
			val = idmap.CapsFor(val, nil)
		case "system.posix_acl_access", "system.posix_acl_default":
			// As GNU tar and LXD store ACLs: text, in their own records.
			moved, ok := idmap.ShiftACL(val, func(id uint32, gid bool) (uint32, bool) {
				if t.files == nil {
					return id, true
				}
				if gid {
					return t.files.UnshiftGID(id), t.files.HasHostGID(id)
				}
				return t.files.UnshiftUID(id), t.files.HasHostUID(id)
			})
			if text := aclText(moved); ok && text != "" {
				out[map[string]string{"system.posix_acl_access": "SCHILY.acl.access", "system.posix_acl_default": "SCHILY.acl.default"}[name]] = text
			}
			continue
		}
		out["SCHILY.xattr."+name] = string(val)
	}
	return out
}

func fgetxattr(fd int, name string) []byte {
	size, err := unix.Fgetxattr(fd, name, nil)
	if err != nil {
		return nil
	}
	buf := make([]byte, size)
	if size, err = unix.Fgetxattr(fd, name, buf); err != nil {
		return nil
	}
	return buf[:size]
}

// skipVanished treats an entry removed (or swapped for a link) since it
// was listed as not there.
func skipVanished(err error) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return nil
	}
	return err
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// aclText is a POSIX ACL xattr value as acl_to_text's short form with
// numeric ids ("user::rwx,user:1000:r-x,group::r-x,mask::r-x,other::r--").
func aclText(acl []byte) string {
	if len(acl) < 4 || (len(acl)-4)%8 != 0 {
		return ""
	}
	var parts []string
	for off := 4; off < len(acl); off += 8 {
		tag := binary.LittleEndian.Uint16(acl[off:])
		perm := binary.LittleEndian.Uint16(acl[off+2:])
		id := binary.LittleEndian.Uint32(acl[off+4:])
		rwx := []byte("---")
		for i, bit := range []uint16{4, 2, 1} {
			if perm&bit != 0 {
				rwx[i] = "rwx"[i]
			}
		}
		var who string
		switch tag {
		case 0x01:
			who = "user:"
		case 0x02:
			who = fmt.Sprintf("user:%d", id)
		case 0x04:
			who = "group:"
		case 0x08:
			who = fmt.Sprintf("group:%d", id)
		case 0x10:
			who = "mask:"
		case 0x20:
			who = "other:"
		default:
			return ""
		}
		parts = append(parts, who+":"+string(rwx))
	}
	return strings.Join(parts, ",")
}
