package idmap

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// Reshift moves a tree in place from one mapping to another; nil is the
// host's own ids (a privileged container). File capabilities are
// rewritten as v3 with the container's root as their owner, since the
// kernel ignores v2 capabilities inside a user namespace (and chown drops
// them anyway).
func Reshift(root string, from, to *Map) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("stat %s: no ownership information", path)
		}
		uid, gid := to.ShiftUID(from.UnshiftUID(st.Uid)), to.ShiftGID(from.UnshiftGID(st.Gid))
		if uid == st.Uid && gid == st.Gid {
			return nil
		}
		xattrs := hasXattrs(path, d)
		if err := chownKeeping(path, d, st, uid, gid, to, xattrs); err != nil {
			return err
		}
		if !xattrs {
			return nil
		}
		return reshiftACLs(path, d, from, to)
	})
}

// reshiftACLs moves the ids in path's POSIX ACLs as Reshift moves
// owners: an ACL naming a group of the container must name it on the new
// map too. An ACL this code cannot read is left as it is.
func reshiftACLs(path string, d fs.DirEntry, from, to *Map) error {
	_, err := moveACLs(path, d, func(id uint32, gid bool) (uint32, bool) {
		if gid {
			return to.ShiftGID(from.UnshiftGID(id)), true
		}
		return to.ShiftUID(from.UnshiftUID(id)), true
	})
	return err
}

// chownKeeping gives path new owners and keeps what chown takes away: the
// setuid and setgid bits of a regular file, and its file capabilities,
// rewritten for the map to (read only when xattrs says there may be
// some).
func chownKeeping(path string, d fs.DirEntry, st *syscall.Stat_t, uid, gid uint32, to *Map, xattrs bool) error {
	var caps []byte
	if xattrs && d.Type().IsRegular() {
		caps = readCaps(path)
	}
	if uid != st.Uid || gid != st.Gid {
		if err := unix.Lchown(path, int(uid), int(gid)); err != nil {
			return fmt.Errorf("shift %s: %w", path, err)
		}
		if d.Type().IsRegular() && st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
			if err := unix.Chmod(path, uint32(st.Mode&07777)); err != nil {
				return fmt.Errorf("restore mode of %s: %w", path, err)
			}
		}
	}
	if caps != nil {
		if err := unix.Setxattr(path, "security.capability", CapsFor(caps, to), 0); err != nil {
			return fmt.Errorf("restore capabilities of %s: %w", path, err)
		}
	}
	return nil
}

func readCaps(path string) []byte {
	buf := make([]byte, 64)
	n, err := unix.Getxattr(path, "security.capability", buf)
	if err != nil {
		return nil // no capabilities (ENODATA) or no xattr support
	}
	return buf[:n]
}

// VFS capability formats (linux/capability.h).
const (
	capRevision2 = 0x02000000
	capRevision3 = 0x03000000
	capRevMask   = 0xFF000000
	capV2Size    = 20
	capV3Size    = 24
)

// CapsFor rewrites a security.capability value for the target mapping: v3
// owned by its root, or plain v2 for the host's own ids.
func CapsFor(caps []byte, to *Map) []byte {
	if to == nil {
		return capsV2(caps)
	}
	return capsV3(caps, to.ShiftUID(0))
}

// capsV2 drops the root owner of a v3 capability xattr.
func capsV2(caps []byte) []byte {
	if len(caps) < capV2Size {
		return caps
	}
	out := make([]byte, capV2Size)
	copy(out, caps[:capV2Size])
	magic := binary.LittleEndian.Uint32(out[0:4])
	binary.LittleEndian.PutUint32(out[0:4], capRevision2|(magic&^capRevMask))
	return out
}

// capsV3 turns a v2 or v3 capability xattr into v3 owned by rootUID.
func capsV3(caps []byte, rootUID uint32) []byte {
	if len(caps) < capV2Size {
		return caps
	}
	magic := binary.LittleEndian.Uint32(caps[0:4])
	rev := magic & capRevMask
	if rev != capRevision2 && rev != capRevision3 {
		return caps
	}
	out := make([]byte, capV3Size)
	binary.LittleEndian.PutUint32(out[0:4], capRevision3|(magic&^capRevMask))
	copy(out[4:capV2Size], caps[4:capV2Size])
	binary.LittleEndian.PutUint32(out[capV2Size:capV3Size], rootUID)
	return out
}
