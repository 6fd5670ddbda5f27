package test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRawIDMap maps host uid/gid 1000 straight into the instance: the
// image's /home/user (1000:1000) is host 1000's, and so are files a disk
// device brings from the host.
func TestRawIDMap(t *testing.T) {
	d := withBusybox(t)
	name := uniq("raw")
	shared := t.TempDir()
	os.Chmod(shared, 0o755)
	f := filepath.Join(shared, "owned")
	os.WriteFile(f, []byte("x"), 0o644)
	os.Chown(f, 1000, 1000)
	if _, stderr, err := d.Lodge("launch", "busybox", name, "-c", "raw.idmap=both 1000"); err == nil || !strings.Contains(stderr, "raw.idmap") {
		t.Fatalf("a malformed raw.idmap: %v %q", err, stderr)
	}
	d.MustLodge("launch", "busybox", name, "-c", "raw.idmap=both 1000 1000")
	maps := d.MustLodge("exec", name, "--", "cat", "/proc/self/uid_map")
	if !strings.Contains(maps, "1000       1000          1") {
		t.Fatalf("uid_map without the raw entry:\n%s", maps)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(d.Dir, "storage-pools", "default", "containers", name, "rootfs", "home", "user"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 1000 || st.Gid != 1000 {
		t.Fatalf("/home/user is %d:%d on the host, want 1000:1000", st.Uid, st.Gid)
	}
	d.MustLodge("config", "device", "add", name, "shared", "disk", "source="+shared, "path=/mnt/shared")
	if out := d.MustLodge("exec", name, "--", "stat", "-c", "%u:%g", "/mnt/shared/owned"); strings.TrimSpace(out) != "1000:1000" {
		t.Fatalf("host 1000's file inside: %q", out)
	}
	if owner := strings.Fields(d.MustLodge("exec", name, "--", "ls", "-ln", "/etc/passwd"))[2]; owner != "0" {
		t.Fatalf("root's files: owner %s", owner)
	}
	// Dropping the entry re-shifts the rootfs at the next start.
	if _, stderr, err := d.Lodge("config", "unset", name, "raw.idmap"); err == nil || !strings.Contains(stderr, "stop it first") {
		t.Fatalf("raw.idmap changed while running: %v %q", err, stderr)
	}
	d.MustLodge("stop", "-f", name)
	d.MustLodge("config", "unset", name, "raw.idmap")
	d.MustLodge("start", name)
	if err := syscall.Stat(filepath.Join(d.Dir, "storage-pools", "default", "containers", name, "rootfs", "home", "user"), &st); err != nil || st.Uid == 1000 {
		t.Fatalf("after dropping raw.idmap /home/user is %d on the host", st.Uid)
	}
	if out := d.MustLodge("exec", name, "--", "stat", "-c", "%u", "/home/user"); strings.TrimSpace(out) != "1000" {
		t.Fatalf("/home/user inside after the re-shift: %q", out)
	}
}
