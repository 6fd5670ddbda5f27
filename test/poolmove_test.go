package test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestPoolMovesAndCopies copies and moves instances with a snapshot
// between a dir pool and a btrfs pool, as lxc copy -s and lxc move
// --storage do, and shows a crash at either side of a move's commit
// leaves the instance whole on one pool.
func TestPoolMovesAndCopies(t *testing.T) {
	d := withBusybox(t)
	d.MustLXC("storage", "create", "bt", "btrfs", "size=1GiB")
	bt := filepath.Join(d.Dir, "storage-pools", "bt")
	dir := filepath.Join(d.Dir, "storage-pools", "default")
	onBtrfs := func(name string) bool {
		var st syscall.Stat_t
		return syscall.Stat(filepath.Join(bt, "containers", name), &st) == nil && st.Ino == 256
	}
	onDir := func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, "containers", name, "rootfs"))
		return err == nil
	}
	// reads checks the instance's state file, and its snapshot's.
	reads := func(name, now string) {
		t.Helper()
		d.MustLXC("start", name)
		if got := d.MustLXC("exec", name, "--", "cat", "/state"); got != now {
			t.Fatalf("%s: %q, want %q", name, got, now)
		}
		d.MustLXC("stop", "--force", name)
		d.MustLXC("restore", name, "s0")
		d.MustLXC("start", name)
		if got := d.MustLXC("exec", name, "--", "cat", "/state"); got != "one\n" {
			t.Fatalf("%s after restoring s0: %q", name, got)
		}
		d.MustLXC("stop", "--force", name)
	}
	c := uniq("mv")
	d.MustLXC("launch", "busybox", c)
	d.MustLXC("exec", c, "--", "sh", "-c", "echo one > /state")
	d.MustLXC("snapshot", c, "s0")
	d.MustLXC("exec", c, "--", "sh", "-c", "echo two > /state")
	if _, stderr, err := d.LXC("move", c, "--storage", "bt"); err == nil || !strings.Contains(stderr, "stop it") {
		t.Fatalf("moving a running instance: %v %q", err, stderr)
	}
	d.MustLXC("stop", "--force", c)

	// A copy to the other pool, with its snapshot; the source stays.
	c2 := uniq("cp")
	d.MustLXC("copy", c, c2, "-s", "bt")
	if !onBtrfs(c2) || !onDir(c) {
		t.Fatalf("after lxc copy -s bt: %s on btrfs %v, %s on dir %v", c2, onBtrfs(c2), c, onDir(c))
	}
	reads(c2, "two\n")

	// A move there and back: lxc, then lodge.
	d.MustLXC("move", c, "--storage", "bt")
	if !onBtrfs(c) || onDir(c) {
		t.Fatalf("after lxc move --storage bt: on btrfs %v, on dir %v", onBtrfs(c), onDir(c))
	}
	reads(c, "two\n")
	d.MustLodge("move", c, "--storage", "default")
	if onBtrfs(c) || !onDir(c) {
		t.Fatalf("after lodge move --storage default: on btrfs %v, on dir %v", onBtrfs(c), onDir(c))
	}
	reads(c, "one\n")
	for _, bad := range [][]string{{"move", c, "--storage", "default"}, {"move", c, "--storage", "nosuchpool"}} {
		if _, stderr, err := d.LXC(bad...); err == nil || stderr == "" {
			t.Fatalf("lxc %v: %v %q", bad, err, stderr)
		}
	}

	// A crash before the move's commit leaves it on the old pool, one
	// after it on the new one; either way nothing is left on the other.
	d.crashAt("poolmove.copied", func() { _, _, _ = d.LXC("move", c, "--storage", "bt") })
	if !onDir(c) || onBtrfs(c) {
		t.Fatalf("after a crash before the commit: on dir %v, on btrfs %v", onDir(c), onBtrfs(c))
	}
	reads(c, "one\n")
	d.crashAt("poolmove.committed", func() { _, _, _ = d.LXC("move", c, "--storage", "bt") })
	if onDir(c) || !onBtrfs(c) {
		t.Fatalf("after a crash after the commit: on dir %v, on btrfs %v", onDir(c), onBtrfs(c))
	}
	reads(c, "one\n")
}
