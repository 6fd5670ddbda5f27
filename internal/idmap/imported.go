package idmap

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// ShiftImported moves what root holds, which came from outside (a backup), from the
// map its files are on to an instance's map, refusing any owner that is
// not on the first or would not be on the second: an id outside the
// instance's map would make its files another user's on the host. ACL
// entries and file capabilities move with the owners.
func ShiftImported(root string, from, to *Map) error {
	return ShiftImportedExcept(root, from, to, nil)
}

// ShiftImportedExcept is ShiftImported leaving alone the entries at the
// top of root that skip names (a volume's own files, such as
// metadata.yaml, which are the host's and not the instance's).
func ShiftImportedExcept(root string, from, to *Map, skip map[string]bool) error {
	return shiftImported(root, from, to, skip, false)
}

// SettleImported is ShiftImportedExcept that also removes the device
// nodes it meets (lodged, as host root, would reach the host's device
// through one): one walk of a received tree for both.
func SettleImported(root string, from, to *Map, skip map[string]bool) error {
	return shiftImported(root, from, to, skip, true)
}

func shiftImported(root string, from, to *Map, skip map[string]bool, dropDevices bool) error {
	move := func(id uint32, gid bool) (uint32, bool) {
		if from != nil && !from.ownsHost(id, gid) {
			return 0, false
		}
		var cid uint32
		if gid {
			cid = from.UnshiftGID(id)
		} else {
			cid = from.UnshiftUID(id)
		}
		if !to.has(cid, gid) {
			return 0, false
		}
		if gid {
			return to.ShiftGID(cid), true
		}
		return to.ShiftUID(cid), true
	}
	done := map[uint64]bool{} // hard-linked files already moved
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == root {
			return nil // the caller's directory, not the tree's
		}
		if skip[d.Name()] && filepath.Dir(path) == filepath.Clean(root) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if dropDevices && d.Type()&fs.ModeDevice != 0 {
			return os.Remove(path)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("stat %s: no ownership information", path)
		}
		if st.Nlink > 1 && !d.IsDir() {
			if done[st.Ino] {
				return nil
			}
			done[st.Ino] = true
		}
		uid, okU := move(st.Uid, false)
		gid, okG := move(st.Gid, true)
		if !okU || !okG {
			rel, _ := filepath.Rel(root, path)
			return fmt.Errorf("%s is owned by %d:%d, outside the instance's id map", rel, st.Uid, st.Gid)
		}
		if !hasXattrs(path, d) {
			// Most files: no capabilities or ACLs to read or move.
			if uid == st.Uid && gid == st.Gid {
				return nil
			}
			return chownKeeping(path, d, st, uid, gid, to, false)
		}
		if err := chownKeeping(path, d, st, uid, gid, to, true); err != nil {
			return err
		}
		refused, err := moveACLs(path, d, move)
		if refused {
			rel, _ := filepath.Rel(root, path)
			return fmt.Errorf("%s has an ACL naming an id outside the instance's id map", rel)
		}
		return err
	})
}

// hasXattrs says whether path (not a link) has extended attributes, in
// one call: most files have none, and then their capabilities and ACLs
// need not be read.
func hasXattrs(path string, d fs.DirEntry) bool {
	if d.Type()&fs.ModeSymlink != 0 {
		return false
	}
	n, err := unix.Llistxattr(path, nil)
	return err != nil || n > 0 // unsure: read them
}

// moveACLs rewrites the ids in path's POSIX ACLs (access, and default on
// a directory) with move; refused when an ACL is malformed or move
// refuses an id (that ACL is left as it was).
func moveACLs(path string, d fs.DirEntry, move func(id uint32, gid bool) (uint32, bool)) (refused bool, err error) {
	if d.Type()&fs.ModeSymlink != 0 {
		return false, nil
	}
	for _, name := range []string{"system.posix_acl_access", "system.posix_acl_default"} {
		acl := getxattr(path, name)
		if acl == nil {
			continue
		}
		moved, ok := ShiftACL(acl, move)
		if !ok {
			refused = true
			continue
		}
		if err := unix.Setxattr(path, name, moved, 0); err != nil {
			return refused, fmt.Errorf("shift the ACL of %s: %w", path, err)
		}
	}
	return refused, nil
}

// ownsHost says whether host id is in the map's host ranges.
func (m *Map) ownsHost(id uint32, gid bool) bool {
	for _, r := range m.Ranges(gid) {
		if id >= r.Host && id-r.Host < r.Size {
			return true
		}
	}
	return false
}

func getxattr(path, name string) []byte {
	buf := make([]byte, 256)
	for {
		n, err := unix.Getxattr(path, name, buf)
		if err == unix.ERANGE {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if err != nil {
			return nil
		}
		return buf[:n]
	}
}

// POSIX ACL xattr layout (linux/posix_acl_xattr.h): a 4-byte version,
// then 8-byte entries of tag, permissions and id.
const (
	aclVersion = 2
	aclUser    = 0x02
	aclGroup   = 0x08
)

// ShiftACL rewrites the user and group ids of a POSIX ACL xattr with move
// (gid set for group entries); false when the value is malformed or move
// refuses an id.
func ShiftACL(acl []byte, move func(id uint32, gid bool) (uint32, bool)) ([]byte, bool) {
	if len(acl) < 4 || (len(acl)-4)%8 != 0 || binary.LittleEndian.Uint32(acl) != aclVersion {
		return nil, false
	}
	out := append([]byte(nil), acl...)
	for off := 4; off < len(out); off += 8 {
		tag := binary.LittleEndian.Uint16(out[off:])
		if tag != aclUser && tag != aclGroup {
			continue
		}
		id, ok := move(binary.LittleEndian.Uint32(out[off+4:]), tag == aclGroup)
		if !ok {
			return nil, false
		}
		binary.LittleEndian.PutUint32(out[off+4:], id)
	}
	return out, true
}

// HasHostUID says whether host uid id belongs to the map (every id does
// to a nil map, the host's own).
func (m *Map) HasHostUID(id uint32) bool { return m == nil || m.ownsHost(id, false) }

// HasHostGID is HasHostUID for group ids.
func (m *Map) HasHostGID(id uint32) bool { return m == nil || m.ownsHost(id, true) }
