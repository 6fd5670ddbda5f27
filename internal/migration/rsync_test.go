package migration

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	// The sandbox re-executes this test binary, as it does lodged.
	if Reexec(os.Args) {
		return
	}
	os.Exit(m.Run())
}

// wsPair is two ends of one websocket over loopback.
func wsPair(t *testing.T) (*Conn, *Conn) {
	t.Helper()
	up := websocket.Upgrader{}
	server := make(chan *websocket.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		server <- c
	}))
	t.Cleanup(srv.Close)
	client, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := <-server
	t.Cleanup(func() { client.Close(); s.Close() })
	return NewConn(client), NewConn(s)
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the sandbox needs root")
	}
}

func TestTreesOverAWebsocket(t *testing.T) {
	needRoot(t)
	src, dst := t.TempDir(), t.TempDir()
	if err := os.Mkdir(filepath.Join(dst, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "rootfs/etc"), 0o755))
	must(os.WriteFile(filepath.Join(src, "rootfs/etc/hostname"), []byte("one\n"), 0o644))
	must(os.Chown(filepath.Join(src, "rootfs/etc/hostname"), 1000123, 1000124))
	must(os.Symlink("/etc/hostname", filepath.Join(src, "rootfs/link")))
	must(os.Link(filepath.Join(src, "rootfs/etc/hostname"), filepath.Join(src, "rootfs/hard")))
	must(unix.Setxattr(filepath.Join(src, "rootfs/etc/hostname"), "user.lodge", []byte("kept"), 0))
	// An ACL entry for uid 1000200 (the xattr's binary form).
	acl := []byte{2, 0, 0, 0}
	for _, e := range [][3]uint32{{1, 6, 0xffffffff}, {2, 4, 1000200}, {4, 4, 0xffffffff}, {0x10, 4, 0xffffffff}, {0x20, 4, 0xffffffff}} {
		acl = append(acl, byte(e[0]), byte(e[0]>>8), byte(e[1]), byte(e[1]>>8), byte(e[2]), byte(e[2]>>8), byte(e[2]>>16), byte(e[2]>>24))
	}
	must(unix.Setxattr(filepath.Join(src, "rootfs/etc/hostname"), "system.posix_acl_access", acl, 0))
	must(os.WriteFile(filepath.Join(src, "metadata.yaml"), []byte("architecture: x86_64\n"), 0o644))

	a, b := wsPair(t)
	features := lodgeFeatures
	var sent, got atomic.Int64
	ctx := context.Background()
	done := make(chan error, 1)
	go func() {
		// Two transfers on one websocket, as a snapshot and its volume.
		if err := ReceiveTree(ctx, dst, filepath.Join(dst, "rootfs"), b, features, &got); err != nil {
			done <- err
			return
		}
		done <- ReceiveTree(ctx, dst, filepath.Join(dst, "rootfs"), b, features, &got)
	}()
	must(SendTree(ctx, src, nil, a, features, &sent, false))
	must(os.WriteFile(filepath.Join(src, "rootfs/etc/hostname"), []byte("two\n"), 0o644))
	// Same size, same second: the receiver compares nanoseconds.
	must(os.Remove(filepath.Join(src, "metadata.yaml")))
	must(SendTree(ctx, src, nil, a, features, &sent, false))
	must(<-done)

	data, err := os.ReadFile(filepath.Join(dst, "rootfs/etc/hostname"))
	if err != nil || string(data) != "two\n" {
		t.Fatalf("hostname = %q, %v", data, err)
	}
	var st unix.Stat_t
	must(unix.Lstat(filepath.Join(dst, "rootfs/etc/hostname"), &st))
	if st.Uid != 1000123 || st.Gid != 1000124 {
		t.Errorf("owner %d:%d, want the sender's numeric ids", st.Uid, st.Gid)
	}
	if l, _ := os.Readlink(filepath.Join(dst, "rootfs/link")); l != "/etc/hostname" {
		t.Errorf("link = %q", l)
	}
	buf := make([]byte, 16)
	if n, err := unix.Getxattr(filepath.Join(dst, "rootfs/etc/hostname"), "user.lodge", buf); err != nil || string(buf[:n]) != "kept" {
		t.Errorf("xattr: %q, %v", buf[:n], err)
	}
	if _, err := os.Stat(filepath.Join(dst, "metadata.yaml")); !os.IsNotExist(err) {
		t.Errorf("a file deleted at the source is still there (delete): %v", err)
	}
	var hard unix.Stat_t
	must(unix.Lstat(filepath.Join(dst, "rootfs/hard"), &hard))
	if hard.Ino != st.Ino {
		t.Error("the hard link arrived as a copy")
	}
	buf = make([]byte, 128)
	if n, err := unix.Getxattr(filepath.Join(dst, "rootfs/etc/hostname"), "system.posix_acl_access", buf); err != nil || !bytes.Equal(buf[:n], acl) {
		t.Errorf("the ACL: %v, %v", buf[:n], err)
	}
	if sent.Load() == 0 || got.Load() == 0 {
		t.Errorf("bytes counted: sent %d, got %d", sent.Load(), got.Load())
	}
}

// The sandbox's rsync sees the volume and /usr, nothing else of the host,
// and writes nowhere but the volume.
func TestSandboxSeesOnlyTheVolume(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	run := func(writable bool, args ...string) (string, error) {
		cmd := sandboxed(context.Background(), writable, dir, "", args)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	if out, err := run(true, "-a", "/usr/bin/rsync", "/v/copied"); err != nil {
		t.Fatalf("the sandbox does not run rsync: %v: %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "copied")); err != nil {
		t.Fatalf("the volume is not the sandbox's /v: %v", err)
	}
	if out, err := run(true, "-a", "/etc/passwd", "/v/passwd"); err == nil {
		t.Errorf("the host's /etc is visible in the sandbox: %s", out)
	}
	outside := filepath.Join(t.TempDir(), "outside")
	if out, err := run(true, "-a", "/v/copied", outside); err == nil {
		t.Errorf("the sandbox wrote outside the volume: %s", out)
	}
	if out, err := run(true, "-a", "/v/copied", "/usr/lodge-test"); err == nil {
		os.Remove("/usr/lodge-test")
		t.Errorf("the sandbox wrote to /usr: %s", out)
	}
	if out, err := run(false, "-a", "/usr/bin/rsync", "/v/again"); err == nil {
		t.Errorf("a read-only volume was written: %s", out)
	}
	// No capability beyond file ownership: no mount, no raw devices.
	if out, err := run(true, "-a", "--devices", "--specials", "/dev/null", "/v/null"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dir, "null"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
		t.Fatalf("mknod in the volume: %v", err)
	}
	if f, err := os.Open(filepath.Join(dir, "null")); err == nil {
		f.Close() // on the host it opens; the sandbox's mount is nodev
	}
}

// lodgeFeatures are the rsync features two Lodge hosts agree on.
var lodgeFeatures = append(append([]string{}, RsyncFeatureNames...), lodgeLinksAndACLs)
