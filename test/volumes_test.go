package test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestCustomVolumes drives custom volumes as lxc 5.0.2 does: create,
// attach to two unprivileged containers (one running, one at its next
// start), share files, refuse deleting one in use, survive a daemon
// restart, detach, delete.
func TestCustomVolumes(t *testing.T) {
	d := withBusybox(t)
	a, b := uniq("va"), uniq("vb")
	d.MustLXC("launch", "busybox", a)
	d.MustLXC("init", "busybox", b)
	d.MustLXC("storage", "volume", "create", "default", "data")

	d.MustLXC("storage", "volume", "attach", "default", "data", a, "/data")
	d.MustLXC("exec", a, "--", "sh", "-c", "echo shared > /data/f && chmod 600 /data/f")
	if out := d.MustLXC("exec", a, "--", "stat", "-c", "%u:%g", "/data/f"); out != "0:0\n" {
		t.Fatalf("a file written by the container's root is owned by %q inside", out)
	}
	d.MustLodge("storage", "volume", "attach", "default", "data", b, "/mnt/data")
	d.MustLXC("start", b)
	if out := d.MustLXC("exec", b, "--", "cat", "/mnt/data/f"); out != "shared\n" {
		t.Fatalf("the second container reads %q", out)
	}

	// On the host the files are host root's, below a folder no other
	// user can pass: a setuid file a container writes is no one's to run.
	vol := filepath.Join(d.Dir, "storage-pools", "default", "custom", "data")
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(vol, "f"), &st); err != nil || st.Uid != 0 {
		t.Fatalf("the volume's file on the host: uid %d, %v", st.Uid, err)
	}
	if fi, err := os.Stat(filepath.Dir(vol)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("the custom volumes' folder: %v %v", fi.Mode(), err)
	}

	// lxc storage volume info: on a dir pool without project quotas the
	// use is not known (as LXD's), and not shown.
	if out := d.MustLXC("storage", "volume", "info", "default", "data"); !strings.Contains(out, "Name: data") || strings.Contains(out, "Usage") {
		t.Fatalf("lxc storage volume info on a dir pool:\n%s", out)
	}
	out := d.MustLXC("storage", "volume", "show", "default", "data")
	for _, want := range []string{"/1.0/instances/" + a, "/1.0/instances/" + b, "content_type: filesystem"} {
		if !strings.Contains(out, want) {
			t.Fatalf("lxc storage volume show lacks %q:\n%s", want, out)
		}
	}
	// Edits: a description lands; a config key (no quotas yet) is refused.
	if st, env := d.API("PATCH", "/1.0/storage-pools/default/volumes/custom/data", map[string]any{"description": "shared files"}); st != 200 {
		t.Fatalf("PATCH description: %d %s", st, env.Error)
	}
	if out := d.MustLXC("storage", "volume", "show", "default", "data"); !strings.Contains(out, "description: shared files") {
		t.Fatalf("the description after PATCH:\n%s", out)
	}
	if _, stderr, err := d.LXC("storage", "volume", "set", "default", "data", "size=1GiB"); err == nil || !strings.Contains(stderr, "size") {
		t.Fatalf("setting size without quotas: %v %q", err, stderr)
	}
	if st, _ := d.API("DELETE", "/1.0/storage-pools/default/volumes/container/"+a, nil); st != 400 {
		t.Fatalf("deleting an instance's volume through the volumes API: %d", st)
	}
	if out := d.MustLXC("storage", "volume", "list", "default"); !strings.Contains(out, "data") || !strings.Contains(out, a) {
		t.Fatalf("lxc storage volume list:\n%s", out)
	}
	if _, stderr, err := d.LXC("storage", "volume", "delete", "default", "data"); err == nil || !strings.Contains(stderr, "in use") {
		t.Fatalf("deleting an attached volume: %v %q", err, stderr)
	}
	for _, bad := range [][]string{{"create", "default", "../x"}, {"create", "nosuchpool", "v"}, {"create", "default", "data"}, {"create", "default", "x.partial"}} {
		if _, _, err := d.LXC(append([]string{"storage", "volume"}, bad...)...); err == nil {
			t.Fatalf("lxc storage volume %v was accepted", bad)
		}
	}
	if _, stderr, err := d.LXC("storage", "volume", "attach", "default", "missing", a, "/m"); err == nil || !strings.Contains(stderr, "missing") {
		t.Fatalf("attaching a missing volume: %v %q", err, stderr)
	}

	// A daemon restart keeps the volume and the mounts.
	d.Kill()
	d.Start()
	if out := d.MustLXC("exec", a, "--", "cat", "/data/f"); out != "shared\n" {
		t.Fatalf("after a daemon restart: %q", out)
	}
	d.MustLXC("restart", "--force", b)
	if out := d.MustLXC("exec", b, "--", "cat", "/mnt/data/f"); out != "shared\n" {
		t.Fatalf("after a restart of the container: %q", out)
	}

	d.MustLXC("storage", "volume", "detach", "default", "data", a)
	d.MustLodge("storage", "volume", "detach", "default", "data", b)
	if out, _, _ := d.LXC("exec", b, "--", "ls", "/mnt/data"); strings.Contains(out, "f") {
		t.Fatalf("the volume is still mounted after detach: %q", out)
	}
	d.MustLXC("storage", "volume", "delete", "default", "data")
	if _, err := os.Stat(vol); !os.IsNotExist(err) {
		t.Fatalf("the deleted volume's files: %v", err)
	}
}
