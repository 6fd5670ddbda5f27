package idmap

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// ShiftImported moves owners from one map to another, hard links once,
// and refuses an owner the first map does not hold.
func TestShiftImported(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown)")
	}
	from := &Map{HostUID: 1000000, HostGID: 1000000, Size: 1000000000}
	to := &Map{HostUID: 200000, HostGID: 200000, Size: Size}
	root := t.TempDir()
	f := filepath.Join(root, "a", "f")
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(f, filepath.Join(root, "a", "link")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(root, "a"), f} {
		if err := os.Lchown(p, 1000000+5, 1000000+42); err != nil {
			t.Fatal(err)
		}
	}
	if err := ShiftImported(root, from, to); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(f, &st); err != nil || st.Uid != 200005 || st.Gid != 200042 {
		t.Fatalf("after the shift: %d:%d %v", st.Uid, st.Gid, err)
	}
	// Host root's file in a tree declared on LXD's map: refused.
	if err := os.Lchown(f, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := ShiftImported(root, from, to); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Fatalf("an owner outside the declared map: %v", err)
	}
	// An id the instance's map cannot hold: refused too.
	if err := os.Lchown(f, 1000000+70000, 1000000); err != nil {
		t.Fatal(err)
	}
	if err := ShiftImported(root, from, to); err == nil {
		t.Fatal("an owner beyond the instance's map was taken")
	}
}

func TestShiftACL(t *testing.T) {
	acl := make([]byte, 4+3*8)
	binary.LittleEndian.PutUint32(acl, aclVersion)
	put := func(i int, tag uint16, id uint32) {
		binary.LittleEndian.PutUint16(acl[4+8*i:], tag)
		binary.LittleEndian.PutUint16(acl[6+8*i:], 7)
		binary.LittleEndian.PutUint32(acl[8+8*i:], id)
	}
	put(0, 0x01, 0xffffffff) // user::
	put(1, aclUser, 1000)
	put(2, aclGroup, 50)
	out, ok := ShiftACL(acl, func(id uint32, gid bool) (uint32, bool) { return id + 100000, true })
	if !ok || binary.LittleEndian.Uint32(out[8+8:]) != 101000 || binary.LittleEndian.Uint32(out[8+16:]) != 100050 || binary.LittleEndian.Uint32(out[8:]) != 0xffffffff {
		t.Fatalf("shifted ACL: %v %v", out, ok)
	}
	if _, ok := ShiftACL(acl[:7], nil); ok {
		t.Fatal("a short ACL was taken")
	}
	if _, ok := ShiftACL(acl, func(uint32, bool) (uint32, bool) { return 0, false }); ok {
		t.Fatal("a refused id was taken")
	}
}

// SettleImported removes device nodes in the walk that shifts the rest,
// and leaves the skipped entries at the top alone.
func TestSettleImportedDropsDeviceNodes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (mknod, chown)")
	}
	from := &Map{HostUID: 1000000, HostGID: 1000000, Size: Size}
	to := &Map{HostUID: 200000, HostGID: 200000, Size: Size}
	root := t.TempDir()
	dev := filepath.Join(root, "rootfs", "dev", "sda")
	kept := filepath.Join(root, "rootfs", "etc", "hostname")
	skipped := filepath.Join(root, "templates", "x")
	for _, p := range []string{dev, kept, skipped} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mknod(dev, syscall.S_IFBLK|0o600, 8<<8); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{kept, skipped} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{filepath.Join(root, "rootfs"), filepath.Join(root, "rootfs", "dev"), filepath.Join(root, "rootfs", "etc"), dev, kept} {
		if err := os.Lchown(p, 1000000, 1000000); err != nil {
			t.Fatal(err)
		}
	}
	if err := SettleImported(root, from, to, map[string]bool{"templates": true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dev); !os.IsNotExist(err) {
		t.Fatalf("the device node is still there: %v", err)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(kept, &st); err != nil || st.Uid != 200000 {
		t.Fatalf("the file beside it: %d %v", st.Uid, err)
	}
	if err := syscall.Lstat(skipped, &st); err != nil || st.Uid != 0 {
		t.Fatalf("a skipped entry was moved: %d %v", st.Uid, err)
	}
}
