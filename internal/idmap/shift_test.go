package idmap

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Reshift moves the ids in ACLs with the owners: a directory's access
// and default ACL naming a container group name it on the new map.
func TestReshiftMovesACLs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown)")
	}
	to := &Map{HostUID: 100000, HostGID: 100000, Size: Size}
	dir := filepath.Join(t.TempDir(), "journal")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// user::rwx group::r-x group:4:r-x mask::r-x other::r-x
	acl := []byte{2, 0, 0, 0}
	for _, e := range [][3]uint32{{1, 7, ^uint32(0)}, {4, 5, ^uint32(0)}, {aclGroup, 5, 4}, {0x10, 5, ^uint32(0)}, {0x20, 5, ^uint32(0)}} {
		acl = binary.LittleEndian.AppendUint16(acl, uint16(e[0]))
		acl = binary.LittleEndian.AppendUint16(acl, uint16(e[1]))
		acl = binary.LittleEndian.AppendUint32(acl, e[2])
	}
	for _, name := range []string{"system.posix_acl_access", "system.posix_acl_default"} {
		if err := unix.Setxattr(dir, name, acl, 0); err != nil {
			t.Skipf("no ACLs here: %v", err)
		}
	}
	if err := Reshift(filepath.Dir(dir), nil, to); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"system.posix_acl_access", "system.posix_acl_default"} {
		got := getxattr(dir, name)
		if len(got) != len(acl) || binary.LittleEndian.Uint32(got[4+2*8+4:]) != 100004 {
			t.Fatalf("%s after the shift: %v", name, got)
		}
	}
}
