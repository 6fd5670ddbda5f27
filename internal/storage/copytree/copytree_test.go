package copytree

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/idmap"
)

func TestCopyKeepsEverything(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (ownership, device nodes)")
	}
	src := filepath.Join(t.TempDir(), "src")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "bin"), 0o755))
	bin := filepath.Join(src, "bin", "ping")
	must(os.WriteFile(bin, []byte("binary"), 0o755))
	must(os.Chown(bin, 0, 5))
	caps := make([]byte, 20)
	caps[3], caps[4] = 0x02, 0x01
	must(unix.Setxattr(bin, "security.capability", caps, 0))
	must(unix.Chmod(bin, 0o4755)) // after the caps: setting them clears setuid
	must(unix.Setxattr(bin, "user.note", []byte("kept"), 0))
	// A default ACL on a directory for group 4 (as Debian's /var/log/journal).
	acl := []byte{2, 0, 0, 0}
	for _, e := range [][3]uint32{{1, 7, 0xffffffff}, {4, 5, 0xffffffff}, {8, 5, 4}, {0x10, 5, 0xffffffff}, {0x20, 5, 0xffffffff}} {
		acl = append(acl, byte(e[0]), byte(e[0]>>8), byte(e[1]), byte(e[1]>>8), byte(e[2]), byte(e[2]>>8), byte(e[2]>>16), byte(e[2]>>24))
	}
	must(unix.Setxattr(filepath.Join(src, "bin"), "system.posix_acl_default", acl, 0))
	must(os.Link(bin, filepath.Join(src, "bin", "ping-link")))
	must(os.Symlink("ping", filepath.Join(src, "bin", "p")))
	must(unix.Mkfifo(filepath.Join(src, "fifo"), 0o600))
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	must(os.Chtimes(bin, old, old))
	big := make([]byte, 3<<20)
	big[len(big)-1] = 7
	must(os.WriteFile(filepath.Join(src, "big"), big, 0o644))

	dst := filepath.Join(filepath.Dir(src), "dst")
	m := &idmap.Map{HostUID: 100000, HostGID: 100000, Size: idmap.Size}
	must(Copy(context.Background(), src, dst, Options{To: m}))

	var st unix.Stat_t
	must(unix.Lstat(filepath.Join(dst, "bin", "ping"), &st))
	if st.Uid != 100000 || st.Gid != 100005 || st.Mode&0o7777 != 0o4755 {
		t.Fatalf("owner/mode: %d:%d %o", st.Uid, st.Gid, st.Mode&0o7777)
	}
	if st.Mtim.Sec != old.Unix() {
		t.Fatalf("mtime not kept: %d", st.Mtim.Sec)
	}
	aclBuf := make([]byte, 64)
	n, aerr := unix.Getxattr(filepath.Join(dst, "bin"), "system.posix_acl_default", aclBuf)
	must(aerr)
	if got := aclBuf[:n]; len(got) != len(acl) || got[24] != 0xa4 || got[25] != 0x86 || got[26] != 0x01 {
		t.Fatalf("the default ACL's group is not moved onto the map (100004): % x", got)
	}
	var lst unix.Stat_t
	must(unix.Lstat(filepath.Join(dst, "bin", "ping-link"), &lst))
	if lst.Ino != st.Ino {
		t.Fatal("hard link became a copy")
	}
	got := make([]byte, 64)
	n, err := unix.Getxattr(filepath.Join(dst, "bin", "ping"), "security.capability", got)
	if err != nil || n != 24 || got[3] != 0x03 || got[20] != 0xa0 || got[21] != 0x86 || got[22] != 0x01 {
		t.Fatalf("caps not rewritten as v3 for root 100000: %x %v", got[:n], err)
	}
	n, err = unix.Getxattr(filepath.Join(dst, "bin", "ping"), "user.note", got)
	if err != nil || string(got[:n]) != "kept" {
		t.Fatalf("user xattr: %q %v", got[:n], err)
	}
	if target, err := os.Readlink(filepath.Join(dst, "bin", "p")); err != nil || target != "ping" {
		t.Fatalf("symlink: %q %v", target, err)
	}
	must(unix.Lstat(filepath.Join(dst, "fifo"), &st))
	if st.Mode&unix.S_IFMT != unix.S_IFIFO || st.Uid != 100000 {
		t.Fatalf("fifo: %o %d", st.Mode, st.Uid)
	}
	data, err := os.ReadFile(filepath.Join(dst, "big"))
	if err != nil || len(data) != len(big) || data[len(data)-1] != 7 {
		t.Fatalf("big file: %d bytes %v", len(data), err)
	}
	// And back: host ids again.
	back := filepath.Join(filepath.Dir(src), "back")
	must(Copy(context.Background(), dst, back, Options{From: m}))
	must(unix.Lstat(filepath.Join(back, "bin", "ping"), &st))
	if st.Uid != 0 || st.Gid != 5 {
		t.Fatalf("unshifted owner: %d:%d", st.Uid, st.Gid)
	}
	if err := Copy(context.Background(), src, dst, Options{}); err == nil {
		t.Fatal("copying onto an existing destination succeeded")
	}
}

// A cancelled context stops a copy with its error.
func TestCopyStopsWhenCancelled(t *testing.T) {
	src := t.TempDir()
	for i := range 50 {
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("f%d", i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Copy(ctx, src, filepath.Join(t.TempDir(), "dst"), Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("a copy under a cancelled context: %v", err)
	}
}
