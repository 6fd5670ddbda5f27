package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestBtrfsPools drives a btrfs pool on a loop file as lxc 5.0.2 does:
// create, launch on it, snapshot, copy and restore as subvolume snapshots,
// mount it again after a reboot, delete it and its loop file.
func TestBtrfsPools(t *testing.T) {
	if _, err := exec.LookPath("mkfs.btrfs"); err != nil {
		t.Fatal("mkfs.btrfs is missing: scripts/install-deps.sh installs btrfs-progs")
	}
	d := withBusybox(t)
	d.MustLXC("storage", "create", "bp", "btrfs", "size=1GiB")
	img := filepath.Join(d.Dir, "disks", "bp.img")
	out := d.MustLXC("storage", "show", "bp")
	for _, want := range []string{"source: " + img, "size: 1GiB", "driver: btrfs"} {
		if !strings.Contains(out, want) {
			t.Fatalf("lxc storage show bp lacks %q:\n%s", want, out)
		}
	}
	root := filepath.Join(d.Dir, "storage-pools", "bp")
	for _, info := range []func(...string) string{d.MustLodge, d.MustLXC} {
		if out := info("storage", "info", "bp"); !strings.Contains(out, "total space: 1") || !strings.Contains(out, "space used:") {
			t.Fatalf("storage info bp:\n%s", out)
		}
	}
	if out := d.MustLodge("storage", "get", "bp", "size"); out != "1GiB\n" {
		t.Fatalf("lodge storage get bp size: %q", out)
	}
	a, b := uniq("onbtrfs"), uniq("copy")
	d.MustLXC("launch", "busybox", a, "-s", "bp")
	isSubvolume := func(path string) bool {
		var st syscall.Stat_t
		return syscall.Stat(path, &st) == nil && st.Ino == 256
	}
	if !isSubvolume(filepath.Join(root, "containers", a)) {
		t.Fatalf("%s's volume is not a btrfs subvolume", a)
	}
	d.MustLXC("exec", a, "--", "sh", "-c", "echo one > /state")
	d.MustLXC("snapshot", a, "s0")
	if !isSubvolume(filepath.Join(root, "containers-snapshots", a, "s0")) {
		t.Fatal("the snapshot is not a subvolume")
	}
	d.MustLXC("exec", a, "--", "sh", "-c", "echo two > /state")
	d.MustLXC("copy", a, b)
	if !isSubvolume(filepath.Join(root, "containers", b)) || !isSubvolume(filepath.Join(root, "containers-snapshots", b, "s0")) {
		t.Fatal("the copy or its snapshot is not a subvolume")
	}
	d.MustLXC("restore", a, "s0")
	if got := d.MustLXC("exec", a, "--", "cat", "/state"); got != "one\n" {
		t.Fatalf("after restoring s0: %q", got)
	}
	d.MustLXC("start", b)
	if got := d.MustLXC("exec", b, "--", "cat", "/state"); got != "two\n" {
		t.Fatalf("the copy: %q", got)
	}
	// A running instance survives a daemon restart on the mounted pool.
	d.Kill()
	d.Start()
	if got := d.MustLodge("exec", a, "--", "cat", "/state"); got != "one\n" {
		t.Fatalf("after a restart: %q", got)
	}
	// A reboot: nothing runs and the pool is not mounted; lodged mounts it
	// again and the instances start.
	d.MustLXC("stop", "--force", a)
	d.MustLXC("stop", "--force", b)
	d.Stop()
	if out, err := exec.Command("umount", root).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}
	d.Start()
	d.MustLXC("start", a)
	if got := d.MustLXC("exec", a, "--", "cat", "/state"); got != "one\n" {
		t.Fatalf("after mounting again: %q", got)
	}

	// Between two btrfs pools a move is a send stream: the snapshot comes
	// along as a read-only subvolume and restores.
	d.MustLXC("storage", "create", "bp2", "btrfs", "size=1GiB")
	d.MustLXC("stop", "--force", a)
	d.MustLXC("move", a, "--storage", "bp2")
	root2 := filepath.Join(d.Dir, "storage-pools", "bp2")
	if !isSubvolume(filepath.Join(root2, "containers", a)) || !isSubvolume(filepath.Join(root2, "containers-snapshots", a, "s0")) {
		t.Fatal("the move to another btrfs pool left no subvolumes there")
	}
	d.MustLXC("start", a)
	if got := d.MustLXC("exec", a, "--", "cat", "/state"); got != "one\n" {
		t.Fatalf("after the move to bp2: %q", got)
	}
	d.MustLXC("exec", a, "--", "sh", "-c", "echo moved > /state")
	d.MustLXC("stop", "--force", a)
	d.MustLXC("restore", a, "s0")
	d.MustLXC("move", a, "--storage", "bp")
	d.MustLXC("start", a)
	if got := d.MustLXC("exec", a, "--", "cat", "/state"); got != "one\n" {
		t.Fatalf("after the move back to bp: %q", got)
	}
	d.MustLXC("storage", "delete", "bp2")

	// Sizes are quota groups: the root disk's and a custom volume's.
	q := uniq("sized")
	d.MustLXC("launch", "busybox", q, "-s", "bp", "-d", "root,size=64MiB")
	if _, _, err := d.LXC("exec", q, "--", "dd", "if=/dev/zero", "of=/big", "bs=1M", "count=100", "conv=fsync"); err == nil {
		t.Fatal("wrote 100MiB into a 64MiB root disk")
	}
	d.MustLXC("exec", q, "--", "rm", "-f", "/big")
	d.MustLXC("config", "device", "set", q, "root", "size=256MiB")
	d.MustLXC("exec", q, "--", "dd", "if=/dev/zero", "of=/big", "bs=1M", "count=100", "conv=fsync")
	if _, stderr, err := d.LXC("config", "device", "set", q, "root", "size=32MiB"); err == nil || !strings.Contains(stderr, "more than the size") {
		t.Fatalf("shrinking below what the disk holds: %v %q", err, stderr)
	}
	d.MustLXC("storage", "volume", "create", "bp", "data", "size=32MiB")
	d.MustLXC("storage", "volume", "attach", "bp", "data", q, "/data")
	if _, _, err := d.LXC("exec", q, "--", "dd", "if=/dev/zero", "of=/data/big", "bs=1M", "count=64", "conv=fsync"); err == nil {
		t.Fatal("wrote 64MiB into a 32MiB custom volume")
	}
	// What it holds, by its quota group, and its limit (lxc storage volume info).
	if out := d.MustLXC("storage", "volume", "info", "bp", "data"); !strings.Contains(out, "Usage: ") || !strings.Contains(out, "Total: 32.00MiB") {
		t.Fatalf("lxc storage volume info of a full 32MiB volume:\n%s", out)
	}
	if out := d.MustLodge("storage", "volume", "info", "bp", "data"); !strings.Contains(out, "Usage: ") || !strings.Contains(out, "Total: ") {
		t.Fatalf("lodge storage volume info of a full 32MiB volume:\n%s", out)
	}
	d.MustLXC("delete", "--force", q)
	d.MustLXC("storage", "volume", "delete", "bp", "data")
	if _, stderr, err := d.LXC("launch", "busybox", uniq("nosize"), "-d", "root,size=1GiB"); err == nil || !strings.Contains(stderr, "does not enforce sizes") {
		t.Fatalf("a size on a dir pool: %v %q", err, stderr)
	}

	// Bad input: what is refused says why.
	for _, bad := range [][]string{
		{"bp2", "btrfs", "size=10MiB"},
		{"bp3", "btrfs", "source=" + t.TempDir()},
		{"bp4", "dir", "size=1GiB"},
	} {
		if _, stderr, err := d.LXC(append([]string{"storage", "create"}, bad...)...); err == nil || stderr == "" {
			t.Fatalf("lxc storage create %v: %v %q", bad, err, stderr)
		}
	}
	if _, stderr, err := d.LXC("storage", "set", "bp", "size", "2GiB"); err == nil || !strings.Contains(stderr, "cannot change") {
		t.Fatalf("resizing the pool: %v %q", err, stderr)
	}
	if _, stderr, err := d.Lodge("storage", "unset", "bp", "size"); err == nil || !strings.Contains(stderr, "cannot change") {
		t.Fatalf("unsetting the pool's size: %v %q", err, stderr)
	}
	if _, stderr, err := d.LXC("storage", "delete", "bp"); err == nil || !strings.Contains(stderr, "in use") {
		t.Fatalf("deleting a pool in use: %v %q", err, stderr)
	}

	d.MustLXC("delete", "--force", a)
	d.MustLXC("delete", "--force", b)
	d.MustLXC("storage", "delete", "bp")
	for _, gone := range []string{img, root} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Fatalf("%s is left after the pool's deletion: %v", gone, err)
		}
	}
}

// TestOptimizedBackups exports an instance on a btrfs pool as btrfs send
// streams (LXD's optimized layout), imports it under another name, and
// refuses the import into a dir pool. Kills during the export and the
// import leave nothing behind.
func TestOptimizedBackups(t *testing.T) {
	d := withBusybox(t)
	d.MustLXC("storage", "create", "ob", "btrfs", "size=1GiB")
	c := uniq("opt")
	d.MustLXC("launch", "busybox", c, "-s", "ob")
	d.MustLXC("exec", c, "--", "sh", "-c", "echo one > /state; chown 7:9 /state")
	d.MustLXC("snapshot", c, "s0")
	d.MustLXC("exec", c, "--", "sh", "-c", "echo two > /state")
	d.MustLXC("snapshot", c, "s1")
	d.MustLXC("exec", c, "--", "sh", "-c", "echo three > /state")

	// lxc export of a running instance, optimized.
	file := filepath.Join(t.TempDir(), "c.tar.gz")
	d.MustLXC("export", c, file, "--optimized-storage")
	entries := tarEntries(t, file)
	for _, want := range []string{"backup/index.yaml", "backup/optimized_header.yaml", "backup/snapshots/s0.bin", "backup/snapshots/s1.bin", "backup/container.bin"} {
		if entries[want] == nil {
			t.Fatalf("the optimized backup lacks %s: %v", want, entries)
		}
	}
	if entries["backup/container/backup.yaml"] != nil {
		t.Fatal("the optimized backup holds a tree")
	}

	c2 := uniq("opt")
	d.MustLodge("import", file, c2, "--storage", "ob")
	d.MustLXC("start", c2)
	if got := d.MustLXC("exec", c2, "--", "sh", "-c", "cat /state; stat -c %u:%g /state"); got != "three\n7:9\n" {
		t.Fatalf("the imported instance: %q", got)
	}
	d.MustLXC("stop", "--force", c2)
	for snap, want := range map[string]string{"s0": "one\n", "s1": "two\n"} {
		d.MustLXC("restore", c2, snap)
		d.MustLXC("start", c2)
		if got := d.MustLXC("exec", c2, "--", "cat", "/state"); got != want {
			t.Fatalf("%s of the imported instance: %q, want %q", snap, got, want)
		}
		d.MustLXC("stop", "--force", c2)
	}

	// A dir pool cannot take btrfs streams; a dir pool's instance cannot
	// make them.
	if _, stderr, err := d.Lodge("import", file, uniq("opt"), "--storage", "default"); err == nil || !strings.Contains(stderr, "only a btrfs pool imports") {
		t.Fatalf("an optimized import into a dir pool: %v %s", err, stderr)
	}
	ondir := uniq("opt")
	d.MustLodge("init", "busybox", ondir)
	if _, stderr, err := d.Lodge("export", ondir, filepath.Join(t.TempDir(), "x.tar.gz"), "--optimized-storage"); err == nil || !strings.Contains(stderr, "need a pool with streams") {
		t.Fatalf("an optimized export from a dir pool: %v %s", err, stderr)
	}

	// Kills while an optimized backup is written and while one is read.
	d.crashAt("backup.written", func() {
		_, _, _ = d.Lodge("export", c, filepath.Join(t.TempDir(), "never.tar.gz"), "--optimized-storage")
	})
	if left, _ := filepath.Glob(filepath.Join(d.Dir, "backups", "instances", c, "*")); len(left) != 0 {
		t.Fatalf("a backup cut short left %v", left)
	}
	c3 := uniq("opt")
	d.crashAt("backup.imported", func() { _, _, _ = d.Lodge("import", file, c3, "--storage", "ob") })
	if st, _ := d.API("GET", "/1.0/instances/"+c3, nil); st != 404 {
		t.Fatalf("an import cut short left an instance (%d)", st)
	}
	pool := filepath.Join(d.Dir, "storage-pools", "ob")
	for _, dir := range []string{"containers", "containers-snapshots"} {
		if left, _ := os.ReadDir(filepath.Join(pool, dir)); len(left) != 2 {
			names := []string{}
			for _, e := range left {
				names = append(names, e.Name())
			}
			t.Fatalf("%s after the kills: %v, want only %s and %s", dir, names, c, c2)
		}
	}
	assertConsistent(t, d)
	d.MustLodge("import", file, c3, "--storage", "ob")

	// A custom volume with a snapshot, optimized, both ways through lxc.
	d.MustLXC("storage", "volume", "create", "ob", "data")
	vol := filepath.Join(pool, "custom", "data")
	if err := os.WriteFile(filepath.Join(vol, "f"), []byte("one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.MustLXC("storage", "volume", "snapshot", "ob", "data", "s0")
	if err := os.WriteFile(filepath.Join(vol, "f"), []byte("two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	volFile := filepath.Join(t.TempDir(), "vol.tar.gz")
	d.MustLXC("storage", "volume", "export", "ob", "data", volFile, "--optimized-storage")
	if entries := tarEntries(t, volFile); entries["backup/volume.bin"] == nil || entries["backup/volume-snapshots/s0.bin"] == nil {
		t.Fatalf("the optimized volume backup: %v", entries)
	}
	d.MustLXC("storage", "volume", "import", "ob", volFile, "data2")
	if b, _ := os.ReadFile(filepath.Join(pool, "custom", "data2", "f")); string(b) != "two\n" {
		t.Fatalf("the imported volume holds %q", b)
	}
	d.MustLXC("storage", "volume", "restore", "ob", "data2", "s0")
	if b, _ := os.ReadFile(filepath.Join(pool, "custom", "data2", "f")); string(b) != "one\n" {
		t.Fatalf("the imported volume's snapshot holds %q", b)
	}
	if _, stderr, err := d.LXC("storage", "volume", "import", "default", volFile, "data3"); err == nil || !strings.Contains(stderr, "only a btrfs pool imports") {
		t.Fatalf("an optimized volume import into a dir pool: %v %s", err, stderr)
	}
}

// TestIncrementalBackups exports an instance on btrfs whole, then twice
// with --since: each holds only the new snapshots and the volume's
// changes. Importing the newest reads the chain from its folder; a broken
// chain or a stale base is refused, naming what is wrong.
func TestIncrementalBackups(t *testing.T) {
	d := withBusybox(t)
	d.MustLXC("storage", "create", "ib", "btrfs", "size=1GiB")
	c := uniq("inc")
	d.MustLXC("launch", "busybox", c, "-s", "ib")
	d.MustLXC("exec", c, "--", "sh", "-c", "echo one > /state; dd if=/dev/urandom of=/big bs=1M count=8 2>/dev/null")
	d.MustLXC("snapshot", c, "s0")
	dir := t.TempDir()
	file := func(n string) string { return filepath.Join(dir, n) }
	size := func(n string) int64 {
		st, err := os.Stat(file(n))
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	d.MustLodge("export", c, file("full.tar.gz"), "--optimized-storage")

	d.MustLXC("exec", c, "--", "sh", "-c", "echo two > /state")
	d.MustLXC("snapshot", c, "s1")
	d.MustLodge("export", c, file("inc1.tar.gz"), "--since", file("full.tar.gz"))
	entries := tarEntries(t, file("inc1.tar.gz"))
	if entries["backup/snapshots/s0.bin"] != nil || entries["backup/snapshots/s1.bin"] == nil || entries["backup/container.bin"] == nil {
		t.Fatalf("the incremental backup holds %v, want s1's and the volume's streams only", entries)
	}
	if full, inc := size("full.tar.gz"), size("inc1.tar.gz"); inc*4 > full {
		t.Fatalf("the incremental backup is %d bytes, the whole one %d", inc, full)
	}

	d.MustLXC("exec", c, "--", "sh", "-c", "echo three > /state")
	d.MustLXC("delete", c+"/s0")
	d.MustLodge("export", c, file("inc2.tar.gz"), "--since", file("inc1.tar.gz"))
	// The base moved on: an export since the first one is refused.
	if _, stderr, err := d.Lodge("export", c, file("stale.tar.gz"), "--since", file("full.tar.gz")); err == nil || !strings.Contains(stderr, "not the last export") {
		t.Fatalf("an export since a stale base: %v %s", err, stderr)
	}

	c2 := uniq("inc")
	d.MustLodge("import", file("inc2.tar.gz"), c2, "--storage", "ib")
	d.MustLXC("start", c2)
	if got := d.MustLXC("exec", c2, "--", "cat", "/state"); got != "three\n" {
		t.Fatalf("the instance from the chain: %q", got)
	}
	if out := d.MustLXC("query", "/1.0/instances/"+c2+"/snapshots"); strings.Contains(out, "s0") || !strings.Contains(out, "s1") {
		t.Fatalf("the chain's snapshots: %s, want s1 alone", out)
	}
	d.MustLXC("stop", "--force", c2)
	d.MustLXC("restore", c2, "s1")
	d.MustLXC("start", c2)
	if got := d.MustLXC("exec", c2, "--", "cat", "/state"); got != "two\n" {
		t.Fatalf("s1 from the chain: %q", got)
	}

	// A chain with a file missing, and one incremental backup alone.
	if err := os.Rename(file("inc1.tar.gz"), file("moved.tar.gz")); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := d.Lodge("import", file("inc2.tar.gz"), uniq("inc"), "--storage", "ib"); err == nil || !strings.Contains(stderr, "inc1.tar.gz, which is missing") {
		t.Fatalf("a chain with a missing file: %v %s", err, stderr)
	}
	if _, stderr, err := d.LXC("import", file("inc2.tar.gz"), uniq("inc"), "--storage", "ib"); err == nil || !strings.Contains(stderr, "it builds on inc1.tar.gz") {
		t.Fatalf("an incremental backup alone: %v %s", err, stderr)
	}
	assertConsistent(t, d)
}
