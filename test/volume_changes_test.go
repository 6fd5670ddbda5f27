package test

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestCustomVolumeChanges drives custom volume snapshots, restores,
// renames, copies and moves between a dir and a btrfs pool as lxc 5.0.2
// does, with what is in use refused.
func TestCustomVolumeChanges(t *testing.T) {
	d := withBusybox(t)
	d.MustLXC("storage", "create", "bt", "btrfs", "size=1GiB")
	d.MustLXC("storage", "volume", "create", "default", "data")
	c := uniq("vol")
	d.MustLXC("launch", "busybox", c)
	d.MustLXC("storage", "volume", "attach", "default", "data", c, "/data")
	write := func(s string) { d.MustLXC("exec", c, "--", "sh", "-c", "echo "+s+" > /data/f") }
	read := func() string { return d.MustLXC("exec", c, "--", "cat", "/data/f") }
	write("one")
	d.MustLXC("storage", "volume", "snapshot", "default", "data", "s0")
	write("two")
	if out := d.MustLXC("storage", "volume", "show", "default", "data/s0"); !strings.Contains(out, "name: s0") {
		t.Fatalf("lxc storage volume show data/s0:\n%s", out)
	}
	if _, stderr, err := d.LXC("storage", "volume", "restore", "default", "data", "s0"); err == nil || !strings.Contains(stderr, "running") {
		t.Fatalf("restoring a volume a running instance uses: %v %q", err, stderr)
	}
	d.MustLXC("stop", "--force", c)
	d.MustLXC("storage", "volume", "restore", "default", "data", "s0")
	d.MustLXC("start", c)
	if got := read(); got != "one\n" {
		t.Fatalf("after restoring s0: %q", got)
	}
	write("three")

	// A rename: refused while attached, then the snapshot follows.
	if _, stderr, err := d.LXC("storage", "volume", "rename", "default", "data", "data2"); err == nil || !strings.Contains(stderr, "in use") {
		t.Fatalf("renaming an attached volume: %v %q", err, stderr)
	}
	d.MustLXC("storage", "volume", "detach", "default", "data", c)
	d.MustLXC("storage", "volume", "rename", "default", "data", "data2")
	if out := d.MustLXC("query", "/1.0/storage-pools/default/volumes/custom/data2/snapshots"); !strings.Contains(out, "data2/snapshots/s0") {
		t.Fatalf("the renamed volume's snapshots: %s", out)
	}

	// Copies: to the btrfs pool with the snapshot, and volume-only.
	d.MustLXC("storage", "volume", "copy", "default/data2", "bt/data3")
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(d.Dir, "storage-pools", "bt", "custom", "data3"), &st); err != nil || st.Ino != 256 {
		t.Fatalf("the copy on btrfs is not a subvolume: %v", err)
	}
	if out := d.MustLXC("query", "/1.0/storage-pools/bt/volumes/custom/data3/snapshots"); !strings.Contains(out, "s0") {
		t.Fatalf("the copy's snapshots: %s", out)
	}
	d.MustLXC("storage", "volume", "copy", "default/data2", "default/data4", "--volume-only")
	if out := d.MustLXC("query", "/1.0/storage-pools/default/volumes/custom/data4/snapshots"); strings.Contains(out, "s0") {
		t.Fatalf("a volume-only copy has snapshots: %s", out)
	}

	// A move back to the dir pool, then its snapshot restored and read.
	d.MustLXC("storage", "volume", "move", "bt/data3", "default/data5")
	if _, _, err := d.LXC("storage", "volume", "show", "bt", "data3"); err == nil {
		t.Fatal("the moved volume is still on bt")
	}
	d.MustLXC("storage", "volume", "restore", "default", "data5", "s0")
	d.MustLXC("storage", "volume", "attach", "default", "data5", c, "/data5")
	if got := d.MustLXC("exec", c, "--", "cat", "/data5/f"); got != "one\n" {
		t.Fatalf("the moved volume's snapshot: %q", got)
	}

	// A snapshot renamed and deleted; the records survive a restart.
	d.MustLXC("storage", "volume", "rename", "default", "data2/s0", "data2/first")
	d.Kill()
	d.Start()
	if out := d.MustLXC("query", "/1.0/storage-pools/default/volumes/custom/data2/snapshots"); !strings.Contains(out, "first") {
		t.Fatalf("after a restart: %s", out)
	}
	d.MustLXC("storage", "volume", "delete", "default", "data2/first")
	if out := d.MustLXC("query", "/1.0/storage-pools/default/volumes/custom/data2/snapshots"); strings.Contains(out, "first") {
		t.Fatalf("the deleted snapshot is listed: %s", out)
	}
	// The same through lodge.
	d.MustLodge("storage", "volume", "snapshot", "default", "data4", "ls0")
	d.MustLodge("storage", "volume", "rename", "default", "data4/ls0", "data4/ls1")
	d.MustLodge("storage", "volume", "move", "default/data4", "bt/data6")
	d.MustLodge("storage", "volume", "copy", "bt/data6", "default/data7", "--volume-only")
	d.MustLodge("storage", "volume", "restore", "bt", "data6", "ls1")
	d.MustLodge("storage", "volume", "delete", "bt", "data6/ls1")
	if out := d.MustLXC("query", "/1.0/storage-pools/bt/volumes/custom/data6/snapshots"); strings.Contains(out, "ls1") {
		t.Fatalf("lodge storage volume delete of a snapshot: %s", out)
	}
	for _, bad := range [][]string{
		{"storage", "volume", "snapshot", "default", "data2", "bad/name"},
		{"storage", "volume", "restore", "default", "data2", "nosuch"},
		{"storage", "volume", "copy", "default/nosuch", "default/x"},
	} {
		if _, stderr, err := d.LXC(bad...); err == nil || stderr == "" {
			t.Fatalf("lxc %v: %v %q", bad, err, stderr)
		}
	}
}

// TestCopyOutOfSpace: a copy onto a pool too small for it fails with the
// reason, and leaves nothing there; the source is untouched.
func TestCopyOutOfSpace(t *testing.T) {
	d := withBusybox(t)
	d.MustLXC("storage", "create", "tiny", "btrfs", "size=256MiB")
	d.MustLXC("storage", "volume", "create", "default", "big")
	c := uniq("space")
	d.MustLXC("launch", "busybox", c)
	d.MustLXC("storage", "volume", "attach", "default", "big", c, "/big")
	d.MustLXC("exec", c, "--", "dd", "if=/dev/urandom", "of=/big/blob", "bs=1M", "count=320")
	if _, stderr, err := d.LXC("storage", "volume", "copy", "default/big", "tiny/big"); err == nil || !strings.Contains(stderr, "space") {
		t.Fatalf("a copy onto a pool too small: %v %q", err, stderr)
	}
	if out := d.MustLXC("storage", "volume", "list", "tiny", "--format", "csv"); strings.Contains(out, "big") {
		t.Fatalf("the failed copy left a volume: %s", out)
	}
	if left, _ := filepath.Glob(filepath.Join(d.Dir, "storage-pools", "tiny", "custom", "*")); len(left) != 0 {
		t.Fatalf("the failed copy left %v", left)
	}
	if out := d.MustLXC("exec", c, "--", "ls", "-l", "/big/blob"); !strings.Contains(out, "335544320") {
		t.Fatalf("the source after the failed copy: %s", out)
	}
	// The pool is usable after: a small volume fits.
	d.MustLXC("storage", "volume", "create", "tiny", "small")
}
