package btrfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Subvolumes are made, snapshotted and destroyed through the kernel's
// ioctls (linux/btrfs.h) rather than the btrfs tool: a launch is one
// snapshot, and a fork and exec would cost more than the snapshot itself.

const (
	iocSubvolCreate  = 0x5000940e // _IOW(0x94, 14, struct btrfs_ioctl_vol_args)
	iocSnapDestroy   = 0x5000940f // _IOW(0x94, 15, struct btrfs_ioctl_vol_args)
	iocSnapCreateV2  = 0x50009417 // _IOW(0x94, 23, struct btrfs_ioctl_vol_args_v2)
	iocSubvolGetflag = 0x80089419 // _IOR(0x94, 25, __u64)
	iocSubvolSetflag = 0x4008941a // _IOW(0x94, 26, __u64)
	subvolReadOnly   = 1 << 1     // BTRFS_SUBVOL_RDONLY

	superMagic     = 0x9123683e // BTRFS_SUPER_MAGIC
	subvolRootIno  = 256        // BTRFS_FIRST_FREE_OBJECTID: a subvolume's root directory
	pathNameMax    = 4087       // BTRFS_PATH_NAME_MAX
	subvolNameMax  = 4039       // BTRFS_SUBVOL_NAME_MAX
	volArgsSize    = 4096
	volArgsV2Size  = 4096
	volArgsV2Flags = 16 // offset of flags in btrfs_ioctl_vol_args_v2
	volArgsV2Name  = 56 // offset of name
)

// volArgs is struct btrfs_ioctl_vol_args.
type volArgs struct {
	fd   int64
	name [pathNameMax + 1]byte
}

// volArgsV2 is struct btrfs_ioctl_vol_args_v2 (its unions unused).
type volArgsV2 struct {
	fd      int64
	transid uint64
	flags   uint64
	unused  [4]uint64
	name    [subvolNameMax + 1]byte
}

var (
	_ [volArgsSize - unsafe.Sizeof(volArgs{})]byte
	_ [unsafe.Sizeof(volArgs{}) - volArgsSize]byte
	_ [volArgsV2Size - unsafe.Sizeof(volArgsV2{})]byte
	_ [unsafe.Sizeof(volArgsV2{}) - volArgsV2Size]byte
	_ [unsafe.Offsetof(volArgsV2{}.flags) - volArgsV2Flags]byte
	_ [unsafe.Offsetof(volArgsV2{}.name) - volArgsV2Name]byte
)

// openDir opens a directory for an ioctl.
func openDir(path string) (int, error) {
	return unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg)); errno != 0 {
		return errno
	}
	return nil
}

// createSubvolume makes an empty subvolume at path.
func createSubvolume(path string) error {
	parent, err := openDir(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("create subvolume %s: %w", path, err)
	}
	defer unix.Close(parent)
	var args volArgs
	if len(filepath.Base(path)) > pathNameMax {
		return fmt.Errorf("create subvolume %s: name too long", path)
	}
	copy(args.name[:], filepath.Base(path))
	if err := ioctl(parent, iocSubvolCreate, unsafe.Pointer(&args)); err != nil {
		return fmt.Errorf("create subvolume %s: %w", path, err)
	}
	return nil
}

// snapshot makes dst a snapshot of subvolume src, read-only if asked.
func snapshot(src, dst string, readOnly bool) error {
	from, err := openDir(src)
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", src, err)
	}
	defer unix.Close(from)
	parent, err := openDir(filepath.Dir(dst))
	if err != nil {
		return fmt.Errorf("snapshot %s to %s: %w", src, dst, err)
	}
	defer unix.Close(parent)
	if len(filepath.Base(dst)) > subvolNameMax {
		return fmt.Errorf("snapshot to %s: name too long", dst)
	}
	args := volArgsV2{fd: int64(from)}
	if readOnly {
		args.flags = subvolReadOnly
	}
	copy(args.name[:], filepath.Base(dst))
	if err := ioctl(parent, iocSnapCreateV2, unsafe.Pointer(&args)); err != nil {
		return fmt.Errorf("snapshot %s to %s: %w", src, dst, err)
	}
	return nil
}

// setReadOnly makes a subvolume read-only or writable.
func setReadOnly(path string, readOnly bool) error {
	fd, err := openDir(path)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var flags uint64
	if err := ioctl(fd, iocSubvolGetflag, unsafe.Pointer(&flags)); err != nil {
		return fmt.Errorf("subvolume flags of %s: %w", path, err)
	}
	if readOnly {
		flags |= subvolReadOnly
	} else {
		flags &^= subvolReadOnly
	}
	if err := ioctl(fd, iocSubvolSetflag, unsafe.Pointer(&flags)); err != nil {
		return fmt.Errorf("make %s read-only=%v: %w", path, readOnly, err)
	}
	return nil
}

// isSubvolume says whether path is the root of a btrfs subvolume.
func isSubvolume(path string) bool {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Ino != subvolRootIno {
		return false
	}
	var fs unix.Statfs_t
	return unix.Statfs(path, &fs) == nil && fs.Type == superMagic
}

// onBtrfs says whether path is on a btrfs filesystem.
func onBtrfs(path string) bool {
	var fs unix.Statfs_t
	return unix.Statfs(path, &fs) == nil && fs.Type == superMagic
}

// deleteSubvolume destroys the subvolume at path and any nested in it (a
// container may make its own); a missing one is not an error. It is the
// only delete of a volume: walking files would be as slow as the tree is
// big, while destroying a subvolume is one call.
func deleteSubvolume(path string) error {
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if !isSubvolume(path) {
		return fmt.Errorf("delete %s: not a btrfs subvolume", path)
	}
	err := destroy(path)
	if errors.Is(err, unix.ENOTEMPTY) {
		// Nested subvolumes hold it up: they go first. A nested one
		// can only be reached through the tree, so the tree is walked.
		if err := deleteNested(path); err != nil {
			return err
		}
		err = destroy(path)
	}
	if err != nil {
		return fmt.Errorf("delete subvolume %s: %w", path, err)
	}
	return nil
}

func destroy(path string) error {
	parent, err := openDir(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	var args volArgs
	copy(args.name[:], filepath.Base(path))
	return ioctl(parent, iocSnapDestroy, unsafe.Pointer(&args))
}

// deleteNested destroys the subvolumes below root, not root itself.
func deleteNested(root string) error {
	var nested []string
	err := filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root && e.IsDir() && isSubvolume(p) {
			nested = append(nested, p)
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("find nested subvolumes of %s: %w", root, err)
	}
	for _, n := range nested {
		// A read-only one inside a writable tree is the instance's own
		// snapshot: it goes the same way.
		if err := deleteSubvolume(n); err != nil {
			return err
		}
	}
	return nil
}
