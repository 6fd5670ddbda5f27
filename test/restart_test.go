package test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/storage/storagetest"
)

// TestDaemonRestart kills lodged while containers run: they keep running,
// and a new lodged re-attaches (exec, state, stop, and noticing an exit).
func TestDaemonRestart(t *testing.T) {
	d := withBusybox(t)
	a, b := uniq("keep"), uniq("keep")
	d.MustLodge("launch", "busybox", a)
	d.MustLodge("launch", "busybox", b)
	pid := statePid(t, d, a)

	d.Kill()
	if err := syscall.Kill(int(pid), 0); err != nil {
		t.Fatalf("container init died with lodged: %v", err)
	}
	d.Start()

	if newPid := statePid(t, d, a); newPid != pid {
		t.Fatalf("after restart the pid is %d, was %d", newPid, pid)
	}
	if out := d.MustLodge("exec", a, "--", "echo", "still here"); out != "still here\n" {
		t.Fatalf("exec after restart: %q", out)
	}
	d.MustLodge("stop", "--force", a)
	if cgroupExists(a) {
		t.Fatal("cgroup left after stopping a re-attached container")
	}
	// An instance that powers off by itself is noticed by the new lodged.
	d.MustLodge("exec", b, "--", "poweroff")
	waitFor(t, "self-powered-off container to show as stopped", 15*time.Second, func() bool {
		out, _, _ := d.Lodge("list", "--format", "csv")
		return strings.Contains(out, b+",STOPPED")
	})
	waitFor(t, "its cgroup to go", 5*time.Second, func() bool { return !cgroupExists(b) })
	d.MustLodge("start", b)
	d.MustLodge("exec", b, "--", "true")
}

// TestCrashRepair leaves the debris a crash could leave and checks a
// restart clears it and says so in the log.
func TestCrashRepair(t *testing.T) {
	d := withBusybox(t)
	name := uniq("ok")
	d.MustLodge("init", "busybox", name)
	d.Kill()
	pool := filepath.Join(d.Dir, "storage-pools", "default", "containers")
	half := filepath.Join(pool, "half.partial")
	orphan := filepath.Join(pool, "orphan")
	for _, dir := range []string{filepath.Join(half, "rootfs"), filepath.Join(orphan, "rootfs")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// As after a host reboot, the layered volume's overlay is gone too.
	if err := storagetest.UnmountBelow(d.Dir); err != nil {
		t.Fatal(err)
	}
	d.Start()
	for _, dir := range []string{half, orphan} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s survived the restart", dir)
		}
	}
	if _, err := os.Stat(filepath.Join(pool, name)); err != nil {
		t.Fatalf("a good volume was removed: %v", err)
	}
	log, _ := os.ReadFile(filepath.Join(d.Dir, "lodged.log"))
	if !strings.Contains(string(log), "repair") {
		t.Fatalf("the repairs are not logged:\n%s", log)
	}
	d.MustLodge("start", name)
	if out := d.MustLodge("exec", name, "--", "ls", "/bin/busybox"); !strings.Contains(out, "busybox") {
		t.Fatalf("the remounted rootfs lacks the image's files: %q", out)
	}
}

// TestImageVolumeAfterHostCrash: an image volume is written back after
// the launch that unpacked it. A host that went down first may have lost
// some of its files; the next start unpacks it again from the image file,
// in place, and the instance layered on it starts with the image whole.
func TestImageVolumeAfterHostCrash(t *testing.T) {
	d := withBusybox(t)
	name := uniq("crashed")
	d.MustLodge("init", "busybox", name)
	fp := fingerprintOf(t, busyboxImage(t))
	images := filepath.Join(d.Dir, "storage-pools", "default", "images")
	d.Kill()
	// As a host crash may leave it: a file of the image emptied, the
	// marker from a boot that is gone, no overlay mounted.
	lost := filepath.Join(images, fp, "rootfs", "bin", "busybox")
	if err := os.Truncate(lost, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(images, fp+".unsynced"), []byte("a-boot-before 00\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := storagetest.UnmountBelow(d.Dir); err != nil {
		t.Fatal(err)
	}
	d.Start()
	if st, err := os.Stat(lost); err != nil || st.Size() == 0 {
		t.Fatalf("the image volume was not unpacked again: %v", err)
	}
	if _, err := os.Stat(filepath.Join(images, fp+".unsynced")); !os.IsNotExist(err) {
		t.Fatalf("the marker outlived the recovery: %v", err)
	}
	log, _ := os.ReadFile(filepath.Join(d.Dir, "lodged.log"))
	if !strings.Contains(string(log), "unpacking it again") {
		t.Fatalf("the recovery is not logged:\n%s", log)
	}
	d.MustLodge("start", name)
	if out := d.MustLodge("exec", name, "--", "busybox", "echo", "whole"); !strings.Contains(out, "whole") {
		t.Fatalf("the instance does not run the image's busybox: %q", out)
	}
}

// TestTwoDaemonsOneInstanceName: two lodged daemons on one host (other
// state directories) each run an instance of the same name, in cgroups of
// their own.
func TestTwoDaemonsOneInstanceName(t *testing.T) {
	a, b := withBusybox(t), withBusybox(t)
	name := uniq("twin")
	a.MustLodge("launch", "busybox", name)
	b.MustLodge("launch", "busybox", name)
	var cgroups []string
	for _, d := range []*Daemon{a, b} {
		out := d.MustLodge("exec", name, "--", "cat", "/proc/1/cgroup")
		if !strings.Contains(out, ":/") {
			t.Fatalf("cgroups seen inside: %q", out)
		}
		_, env := d.API("GET", "/1.0/instances/"+name+"/state", nil)
		var st api.InstanceState
		_ = json.Unmarshal(env.Metadata, &st)
		host, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", st.Pid))
		if err != nil || st.Status != "Running" {
			t.Fatalf("instance %s: %+v %v", name, st, err)
		}
		cgroups = append(cgroups, string(host))
	}
	if cgroups[0] == cgroups[1] || !strings.Contains(cgroups[0], "/"+name+"\n") {
		t.Fatalf("the two instances' cgroups:\n%s\n%s", cgroups[0], cgroups[1])
	}
	a.MustLodge("delete", "-f", name)
	if out := b.MustLodge("exec", name, "--", "echo", "alive"); out != "alive\n" {
		t.Fatalf("the other daemon's instance after a delete: %q", out)
	}
}

// TestCleanStopLeavesNoMounts: stopped instances' volumes are unmounted when
// lodged stops (SIGTERM), so the state directory can be removed by hand;
// the next start mounts them again.
func TestCleanStopLeavesNoMounts(t *testing.T) {
	d := withBusybox(t)
	name := uniq("mnt")
	d.MustLodge("launch", "busybox", name)
	d.MustLodge("exec", name, "--", "touch", "/root/kept")
	d.MustLodge("stop", "-f", name)
	if len(mountsBelow(d.Dir)) == 0 {
		t.Fatal("a layered instance's volume is not mounted while lodged runs (the test needs one)")
	}
	d.Stop()
	if left := mountsBelow(d.Dir); len(left) != 0 {
		t.Fatalf("mounts left after lodged stopped: %v", left)
	}
	d.Start()
	d.MustLodge("start", name)
	d.MustLodge("exec", name, "--", "test", "-e", "/root/kept")
}

// TestCopiedImageAfterHostCrash: an image copied in (here pushed with an
// upload token, as lxc image copy --mode push does) is kept before its
// file is written back. Killed at once, in the same boot, start-up writes
// it back; if the host went down and the file lost data, start-up drops
// the image (and its alias) rather than keep a broken one.
func TestCopiedImageAfterHostCrash(t *testing.T) {
	d := startDaemon(t)
	data, err := os.ReadFile(busyboxImage(t))
	if err != nil {
		t.Fatal(err)
	}
	fp := fingerprintOf(t, busyboxImage(t))
	push := func(alias string) {
		t.Helper()
		st, body := d.raw("POST", "/1.0/images", map[string]string{"Content-Type": "application/json"},
			[]byte(`{"source": {"fingerprint": "`+fp+`", "mode": "push"}, "aliases": [{"name": "`+alias+`"}]}`))
		var env api.Response
		var op api.Operation
		if err := json.Unmarshal([]byte(body), &env); err != nil || st != 202 || json.Unmarshal(env.Metadata, &op) != nil {
			t.Fatalf("a push token: %d %s", st, body)
		}
		secret, _ := op.Metadata["secret"].(string)
		st, body = d.raw("POST", "/1.0/images", map[string]string{"Content-Type": "application/octet-stream", "X-LXD-fingerprint": fp, "X-LXD-secret": secret}, data)
		if st != 202 {
			t.Fatalf("the pushed upload: %d %s", st, body)
		}
	}
	mark := filepath.Join(d.Dir, "images", ".unsynced-"+fp)
	push("pushed")
	if _, err := os.Stat(mark); err != nil {
		t.Fatalf("the copied image's file is not marked for writeback: %v", err)
	}
	d.Kill()
	d.Start()
	if _, err := os.Stat(mark); !os.IsNotExist(err) {
		t.Fatalf("start-up in the same boot did not write the file back: %v", err)
	}
	d.MustLodge("image", "delete", "pushed")

	// The host went down: the mark is of another boot, the file's tail lost.
	push("pushed")
	d.Kill()
	if err := os.WriteFile(mark, []byte("a-boot-before 00\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(d.Dir, "images", fp), int64(len(data)/2)); err != nil {
		t.Fatal(err)
	}
	d.Start()
	if st, _ := d.API("GET", "/1.0/images/"+fp, nil); st != 404 {
		t.Fatalf("the image whose file lost data is still there: %d", st)
	}
	if st, _ := d.API("GET", "/1.0/images/aliases/pushed", nil); st != 404 {
		t.Fatalf("its alias is still there: %d", st)
	}
	log, _ := os.ReadFile(filepath.Join(d.Dir, "lodged.log"))
	if !strings.Contains(string(log), "lost data") {
		t.Fatalf("the drop is not logged:\n%s", log)
	}
	assertConsistent(t, d)
}
