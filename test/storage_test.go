package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStoragePools drives pools as lxc 5.0.2 does: create (in lodged's
// place and on a source of the user's), launch on them, see what uses
// them, survive a daemon restart, refuse what would lose data, delete.
func TestStoragePools(t *testing.T) {
	d := withBusybox(t)
	d.MustLXC("storage", "create", "fast", "dir")
	base := t.TempDir()
	// A source the instances' root cannot reach is refused up front.
	if _, stderr, err := d.LXC("storage", "create", "mine", "dir", "source="+filepath.Join(base, "mine")); err == nil || !strings.Contains(stderr, "chmod") {
		t.Fatalf("a pool below a private directory: %v %q", err, stderr)
	}
	for _, dir := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(dir, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	src := filepath.Join(base, "mine")
	d.MustLXC("storage", "create", "mine", "dir", "source="+src)
	out := d.MustLXC("storage", "list")
	for _, want := range []string{"default", "fast", "mine", src} {
		if !strings.Contains(out, want) {
			t.Fatalf("lxc storage list lacks %q:\n%s", want, out)
		}
	}

	a, b := uniq("onfast"), uniq("onmine")
	d.MustLXC("launch", "busybox", a, "-s", "fast")
	d.MustLodge("launch", "busybox", b, "--storage", "mine")
	fastVol := filepath.Join(d.Dir, "storage-pools", "fast", "containers", a)
	for _, vol := range []string{fastVol, filepath.Join(src, "containers", b)} {
		if _, err := os.Stat(filepath.Join(vol, "rootfs", "bin", "busybox")); err != nil {
			t.Fatalf("volume %s: %v", vol, err)
		}
	}
	// The image came to the new pool whole, copied from the default one.
	if metas, _ := filepath.Glob(filepath.Join(d.Dir, "storage-pools", "fast", "images", "*", "metadata.yaml")); len(metas) != 1 {
		t.Fatalf("the image volume on the new pool: %v", metas)
	}
	if _, err := os.Stat(filepath.Join(d.Dir, "storage-pools", "default", "containers", a)); !os.IsNotExist(err) {
		t.Fatalf("%s has a volume on the default pool too: %v", a, err)
	}
	if out := d.MustLXC("storage", "show", "fast"); !strings.Contains(out, "/1.0/instances/"+a) || strings.Contains(out, "/1.0/instances/"+b) {
		t.Fatalf("lxc storage show fast:\n%s", out)
	}
	if out := d.MustLodge("exec", a, "--", "cat", "/proc/1/comm"); out == "" {
		t.Fatal("exec on an instance of another pool printed nothing")
	}

	// Nothing that would lose data or take over files.
	if _, stderr, err := d.LXC("storage", "delete", "fast"); err == nil || !strings.Contains(stderr, "in use") {
		t.Fatalf("deleting a pool in use: %v %q", err, stderr)
	}
	full := t.TempDir()
	_ = os.WriteFile(filepath.Join(full, "precious"), []byte("x"), 0o600)
	if _, stderr, err := d.LXC("storage", "create", "taken", "dir", "source="+full); err == nil || !strings.Contains(stderr, "not empty") {
		t.Fatalf("a pool on a directory with files: %v %q", err, stderr)
	}
	for _, nested := range []string{filepath.Join(d.Dir, "storage-pools", "fast", "containers", "x"), filepath.Join(src, "inner")} {
		if _, stderr, err := d.LXC("storage", "create", "nested", "dir", "source="+nested); err == nil || !strings.Contains(stderr, "source") {
			t.Fatalf("a pool inside lodged's state or another pool (%s): %v %q", nested, err, stderr)
		}
	}
	for _, bad := range [][]string{{"../up", "dir"}, {"x", "zfs"}, {"fast", "dir"}} {
		if _, _, err := d.LXC(append([]string{"storage", "create"}, bad...)...); err == nil {
			t.Fatalf("lxc storage create %v was accepted", bad)
		}
	}
	if _, stderr, err := d.LXC("config", "device", "set", a, "root", "pool=default"); err == nil || !strings.Contains(stderr, "not supported") {
		t.Fatalf("moving a root disk by an edit: %v %q", err, stderr)
	}

	// A restarted lodged finds every pool's volumes, and removes none.
	d.Kill()
	d.Start()
	if out := d.MustLodge("exec", a, "--", "echo", "back"); out != "back\n" {
		t.Fatalf("exec after restart: %q", out)
	}
	d.MustLXC("restart", "--force", b)
	if _, err := os.Stat(fastVol); err != nil {
		t.Fatalf("a volume of another pool after restart: %v", err)
	}

	d.MustLXC("delete", "--force", a)
	d.MustLXC("delete", "--force", b)
	d.MustLXC("storage", "delete", "fast")
	d.MustLodge("storage", "delete", "mine")
	if _, err := os.Stat(filepath.Join(d.Dir, "storage-pools", "fast")); !os.IsNotExist(err) {
		t.Fatalf("the deleted pool's directory is left: %v", err)
	}
	if _, err := os.Stat(src); err != nil {
		t.Fatalf("the user's source directory went with the pool: %v", err)
	}
	if out := d.MustLodge("storage", "list"); strings.Contains(out, "fast") || !strings.Contains(out, "default") {
		t.Fatalf("lodge storage list after deletes:\n%s", out)
	}
}
