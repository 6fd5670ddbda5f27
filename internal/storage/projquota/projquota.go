// Package projquota limits directory trees with filesystem project quotas
// (XFS, and ext4 with the project feature): every file of a tree carries
// one project id, inherited by what is made in its directories, and the
// filesystem counts and limits the blocks of each id.
package projquota

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Kernel interfaces (linux/fs.h, linux/quota.h), which x/sys/unix lacks.
const (
	iocFSGetXattr    = 0x801c581f // FS_IOC_FSGETXATTR
	iocFSSetXattr    = 0x401c5820 // FS_IOC_FSSETXATTR
	xflagProjInherit = 0x00000200 // FS_XFLAG_PROJINHERIT

	sysQuotactlFd = 443 // quotactl_fd(2), Linux 5.14
	prjQuota      = 2   // PRJQUOTA
	qGetInfo      = 0x800005
	qGetQuota     = 0x800007
	qSetQuota     = 0x800008
	qifBLimits    = 1 // QIF_BLIMITS
	blockSize     = 1024
)

// fsxattr is struct fsxattr.
type fsxattr struct {
	Xflags     uint32
	Extsize    uint32
	Nextents   uint32
	Projid     uint32
	Cowextsize uint32
	Pad        [8]byte
}

// dqblk is struct if_dqblk.
type dqblk struct {
	BHardLimit uint64
	BSoftLimit uint64
	CurSpace   uint64
	IHardLimit uint64
	ISoftLimit uint64
	CurInodes  uint64
	BTime      uint64
	ITime      uint64
	Valid      uint32
	_          uint32
}

type dqinfo struct {
	BGrace, IGrace uint64
	Flags, Valid   uint32
}

func quotactl(path string, cmd int, id uint32, addr unsafe.Pointer) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if _, _, errno := unix.Syscall6(sysQuotactlFd, uintptr(fd), uintptr(cmd<<8|prjQuota), uintptr(id), uintptr(addr), 0, 0); errno != 0 {
		return errno
	}
	return nil
}

// Supported says whether the filesystem of directory path enforces
// project quotas (XFS mounted with prjquota; ext4 with the project and
// quota features, mounted with prjquota).
func Supported(path string) bool {
	var info dqinfo
	return quotactl(path, qGetInfo, 0, unsafe.Pointer(&info)) == nil
}

func getXattr(fd int) (fsxattr, error) {
	var x fsxattr
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), iocFSGetXattr, uintptr(unsafe.Pointer(&x)))
	if errno != 0 {
		return x, errno
	}
	return x, nil
}

func setXattr(fd int, x fsxattr) error {
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), iocFSSetXattr, uintptr(unsafe.Pointer(&x))); errno != 0 {
		return errno
	}
	return nil
}

// ID is the project id of path (0: none).
func ID(path string) (uint32, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	x, err := getXattr(fd)
	return x.Projid, err
}

// SetDirID gives directory dir (only) project id, passed on to what is
// made in it.
func SetDirID(dir string, id uint32) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	x, err := getXattr(fd)
	if err != nil {
		return err
	}
	x.Projid, x.Xflags = id, x.Xflags|xflagProjInherit
	return setXattr(fd, x)
}

// SetID gives every directory and regular file of tree project id, and
// makes the directories pass it on to what is made in them. Links,
// devices and other special files are left as they are: they hold no
// blocks, and opening them to set an id could reach outside the tree.
func SetID(tree string, id uint32) error {
	return filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return nil
		}
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOENT) {
			return nil // swapped for a link, or gone, since listed
		}
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		x, err := getXattr(fd)
		if err != nil {
			return fmt.Errorf("project id of %s: %w", p, err)
		}
		want := x.Xflags
		if d.IsDir() {
			want |= xflagProjInherit
		}
		if x.Projid == id && x.Xflags == want {
			return nil
		}
		x.Projid, x.Xflags = id, want
		if err := setXattr(fd, x); err != nil {
			return fmt.Errorf("set the project id of %s: %w", p, err)
		}
		return nil
	})
}

// SetLimit limits project id on the filesystem of path to bytes (0: no
// limit).
func SetLimit(path string, id uint32, bytes int64) error {
	blocks := uint64(0)
	if bytes > 0 {
		blocks = uint64((bytes + blockSize - 1) / blockSize)
	}
	q := dqblk{BHardLimit: blocks, BSoftLimit: blocks, Valid: qifBLimits}
	if err := quotactl(path, qSetQuota, id, unsafe.Pointer(&q)); err != nil {
		return fmt.Errorf("set the quota of project %d: %w", id, err)
	}
	return nil
}

// Usage is how many bytes project id holds on the filesystem of path.
func Usage(path string, id uint32) (int64, error) {
	var q dqblk
	if err := quotactl(path, qGetQuota, id, unsafe.Pointer(&q)); err != nil {
		return 0, fmt.Errorf("read the quota of project %d: %w", id, err)
	}
	return int64(q.CurSpace), nil
}
