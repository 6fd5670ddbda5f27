package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVolumeBackups exports a custom volume with a snapshot as lxc 5.0.2
// does, imports it under another name and onto a btrfs pool, and through
// lodge; the files, their owners and the snapshot come back.
func TestVolumeBackups(t *testing.T) {
	d := withBusybox(t)
	d.MustLXC("storage", "create", "bt", "btrfs", "size=1GiB")
	d.MustLXC("storage", "volume", "create", "default", "vb")
	c := uniq("vb")
	d.MustLXC("launch", "busybox", c)
	d.MustLXC("storage", "volume", "attach", "default", "vb", c, "/vb")
	d.MustLXC("exec", c, "--", "sh", "-c", "echo one > /vb/f; chown 1000:1000 /vb/f")
	d.MustLXC("storage", "volume", "snapshot", "default", "vb", "s0")
	d.MustLXC("exec", c, "--", "sh", "-c", "echo two > /vb/f")

	file := filepath.Join(t.TempDir(), "vb.tar.gz")
	d.MustLXC("storage", "volume", "export", "default", "vb", file)
	entries := tarEntries(t, file)
	if h := entries["backup/volume/f"]; h == nil || h.Uid != 1000 {
		t.Fatalf("the volume's file in the backup: %+v", h)
	}
	if entries["backup/volume-snapshots/s0/f"] == nil || entries["backup/index.yaml"] == nil {
		t.Fatalf("the backup lacks the snapshot or the index: %v", entries)
	}
	if out := d.MustLXC("query", "/1.0/storage-pools/default/volumes/custom/vb/backups"); strings.Contains(out, "backup") {
		t.Fatalf("lxc storage volume export left its backup: %s", out)
	}
	for _, target := range [][2]string{{"default", "vb2"}, {"bt", "vb3"}} {
		d.MustLXC("storage", "volume", "import", target[0], file, target[1])
		d.MustLXC("storage", "volume", "attach", target[0], target[1], c, "/"+target[1])
		if got := d.MustLXC("exec", c, "--", "sh", "-c", "cat /"+target[1]+"/f; stat -c %u /"+target[1]+"/f"); got != "two\n1000\n" {
			t.Fatalf("the import on %s: %q", target[0], got)
		}
	}
	d.MustLXC("stop", "--force", c)
	d.MustLXC("storage", "volume", "restore", "bt", "vb3", "s0")
	d.MustLXC("start", c)
	if got := d.MustLXC("exec", c, "--", "cat", "/vb3/f"); got != "one\n" {
		t.Fatalf("the imported snapshot: %q", got)
	}
	if _, stderr, err := d.LXC("storage", "volume", "import", "default", file, "vb2"); err == nil || !strings.Contains(stderr, "exists") {
		t.Fatalf("an import over an existing volume: %v %q", err, stderr)
	}

	// lodge: export volume-only with zstd, import elsewhere.
	zst := filepath.Join(t.TempDir(), "vb.tar.zst")
	d.MustLodge("storage", "volume", "export", "default", "vb", zst, "--volume-only", "--compression", "zstd")
	d.MustLodge("storage", "volume", "import", "bt", zst, "vb4")
	if out := d.MustLXC("query", "/1.0/storage-pools/bt/volumes/custom/vb4/snapshots"); strings.Contains(out, "s0") {
		t.Fatalf("a volume-only backup brought snapshots: %s", out)
	}
	// A backup kept on the host goes with its volume.
	d.MustLXC("query", "--wait", "-X", "POST", "-d", `{"name":"kept"}`, "/1.0/storage-pools/bt/volumes/custom/vb4/backups")
	if files, _ := filepath.Glob(filepath.Join(d.Dir, "backups", "custom", "bt", "vb4", "kept")); len(files) != 1 {
		t.Fatalf("the kept backup's tarball: %v", files)
	}
	d.MustLXC("storage", "volume", "delete", "bt", "vb4")
	if _, err := os.Stat(filepath.Join(d.Dir, "backups", "custom", "bt", "vb4")); !os.IsNotExist(err) {
		t.Fatalf("a deleted volume's backups are left: %v", err)
	}
}
