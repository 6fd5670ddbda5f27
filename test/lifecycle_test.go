package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lodge-project/lodge/api"
)

func TestBusyboxLifecycle(t *testing.T) {
	d := withBusybox(t)
	name := uniq("life")
	d.MustLodge("launch", "busybox", name)

	if m := d.MustLodge("exec", name, "--", "cat", "/proc/self/uid_map"); !strings.HasPrefix(strings.TrimSpace(m), "0") || strings.Fields(m)[1] == "0" {
		t.Fatalf("container root is not mapped to an unprivileged range: %q", m)
	}
	if h := strings.TrimSpace(d.MustLodge("exec", name, "--", "hostname")); h != name {
		t.Fatalf("hostname %q, want %q", h, name)
	}
	if pid1 := d.MustLodge("exec", name, "--", "cat", "/proc/1/cmdline"); !strings.Contains(pid1, "init") {
		t.Fatalf("PID 1 is %q, want init", pid1)
	}
	mounts := d.MustLodge("exec", name, "--", "cat", "/proc/mounts")
	for _, m := range []string{" /proc proc", " /sys sysfs", " /dev tmpfs", " /dev/pts devpts", "/sys/fs/cgroup"} {
		if !strings.Contains(mounts, m) {
			t.Errorf("mount %q missing in container:\n%s", m, mounts)
		}
	}
	if _, err := os.Stat(filepath.Join(d.Dir, "logs", name, "console.log")); err != nil {
		t.Errorf("no console log: %v", err)
	}

	var list []api.InstanceFull
	if err := json.Unmarshal([]byte(d.MustLodge("list", "--format", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Status != "Running" || list[0].State == nil || list[0].State.Pid == 0 || list[0].State.Processes < 1 {
		t.Fatalf("lodge list: %+v", list)
	}
	if info := d.MustLodge("info", name); !strings.Contains(info, "Status: RUNNING") || !strings.Contains(info, "Memory (current)") {
		t.Fatalf("lodge info:\n%s", info)
	}

	d.MustLodge("pause", name)
	if st := cgroupFile(t, "freezer", name, "freezer.state"); st != "FROZEN" {
		t.Fatalf("freezer.state %q after pause", st)
	}
	if !strings.Contains(d.MustLodge("list", "--format", "csv"), "FROZEN") {
		t.Fatal("lodge list does not show FROZEN")
	}
	d.MustLodge("resume", name)
	if st := cgroupFile(t, "freezer", name, "freezer.state"); st != "THAWED" {
		t.Fatalf("freezer.state %q after resume", st)
	}

	oldPid := statePid(t, d, name)
	d.MustLodge("restart", name)
	if newPid := statePid(t, d, name); newPid == 0 || newPid == oldPid {
		t.Fatalf("restart: pid %d -> %d", oldPid, newPid)
	}

	d.MustLodge("stop", name)
	if cgroupExists(name) {
		t.Fatal("cgroup left behind after stop")
	}
	if !strings.Contains(d.MustLodge("list", "--format", "csv"), "STOPPED") {
		t.Fatal("lodge list does not show STOPPED")
	}
	if _, stderr, err := d.Lodge("exec", name, "--", "true"); err == nil || !strings.Contains(stderr, "not running") {
		t.Fatalf("exec in a stopped instance: %v %s", err, stderr)
	}
	rootfs := filepath.Join(d.Dir, "storage-pools", "default", "containers", name)
	if _, err := os.Stat(rootfs); err != nil {
		t.Fatal(err)
	}
	d.MustLodge("delete", name)
	if _, err := os.Stat(rootfs); !os.IsNotExist(err) {
		t.Fatalf("rootfs left behind after delete: %v", err)
	}
	if st, _ := d.API("GET", "/1.0/instances/"+name, nil); st != 404 {
		t.Fatalf("deleted instance answers %d", st)
	}
}

func statePid(t *testing.T, d *Daemon, name string) int64 {
	t.Helper()
	_, env := d.API("GET", "/1.0/instances/"+name+"/state", nil)
	var st api.InstanceState
	if err := json.Unmarshal(env.Metadata, &st); err != nil {
		t.Fatal(err)
	}
	return st.Pid
}

func TestStopAndDeleteForce(t *testing.T) {
	d := withBusybox(t)
	name := uniq("force")
	d.MustLodge("launch", "busybox", name)
	if _, stderr, err := d.Lodge("delete", name); err == nil || !strings.Contains(stderr, "running") {
		t.Fatalf("delete of a running instance: %v %s", err, stderr)
	}
	start := time.Now()
	d.MustLodge("delete", "--force", name)
	if _, err := os.Stat(filepath.Join(d.Dir, "storage-pools", "default", "containers", name)); !os.IsNotExist(err) {
		t.Fatal("volume left after delete --force")
	}
	if cgroupExists(name) {
		t.Fatal("cgroup left after delete --force")
	}
	t.Logf("delete --force took %s", time.Since(start))
}

func TestPrivileged(t *testing.T) {
	d := withBusybox(t)
	name := uniq("priv")
	d.MustLodge("launch", "busybox", name, "-c", "security.privileged=true")
	if m := strings.Fields(d.MustLodge("exec", name, "--", "cat", "/proc/self/uid_map")); len(m) != 3 || m[0] != "0" || m[1] != "0" {
		t.Fatalf("privileged container has uid_map %v", m)
	}
	// Switching back to unprivileged needs a stop and shifts the rootfs.
	if _, stderr, err := d.Lodge("config", "set", name, "security.privileged=false"); err == nil || !strings.Contains(stderr, "stop it first") {
		t.Fatalf("changing security.privileged while running: %v %s", err, stderr)
	}
	d.MustLodge("stop", "--force", name)
	d.MustLodge("config", "set", name, "security.privileged=false")
	d.MustLodge("start", name)
	if m := strings.Fields(d.MustLodge("exec", name, "--", "cat", "/proc/self/uid_map")); m[1] == "0" {
		t.Fatalf("unprivileged again, but uid_map %v", m)
	}
	if owner := strings.Fields(d.MustLodge("exec", name, "--", "ls", "-ln", "/etc/passwd")); owner[2] != "0" {
		t.Fatalf("/etc/passwd owned by %s inside after the shift", owner[2])
	}
}

func TestListFilter(t *testing.T) {
	d := withBusybox(t)
	a, b := uniq("fa"), uniq("fb")
	d.MustLodge("init", "busybox", a, "-c", "user.team=ops")
	d.MustLodge("launch", "busybox", b)
	var names []string
	_, env := d.API("GET", "/1.0/instances?filter=status+eq+Running", nil)
	_ = json.Unmarshal(env.Metadata, &names)
	if len(names) != 1 || !strings.HasSuffix(names[0], "/"+b) {
		t.Fatalf("status filter: %v", names)
	}
	_, env = d.API("GET", "/1.0/instances?recursion=1&filter=config.user.team+eq+ops", nil)
	var list []api.Instance
	_ = json.Unmarshal(env.Metadata, &list)
	if len(list) != 1 || list[0].Name != a {
		t.Fatalf("config filter: %+v", list)
	}
	if st, _ := d.API("GET", "/1.0/instances?filter=name+gt+x", nil); st != 400 {
		t.Fatalf("bad filter: %d", st)
	}
}

// TestCleanStopEndsWhenNothingActsOnIt: busybox init's clean stop sends
// SIGTERM to every process, then only pauses before its SIGKILL; lodged
// ends the stop once init is shutting down, what is left ignores SIGTERM
// (the console's interactive shell) and all is idle — after a process that
// handles SIGTERM has finished doing so.
func TestCleanStopEndsWhenNothingActsOnIt(t *testing.T) {
	d := withBusybox(t)
	name := uniq("clean")
	d.MustLodge("launch", "busybox", name)
	d.MustLodge("exec", name, "--", "sh", "-c",
		`setsid sh -c 'trap "sleep 0.4; echo got-term > /root/term; exit 0" TERM; while :; do sleep 1; done' </dev/null >/dev/null 2>&1 &`)
	waitFor(t, "the background shell", 5*time.Second, func() bool {
		out, _, _ := d.Lodge("exec", name, "--", "ps")
		return strings.Count(out, "while") > 0 || strings.Count(out, "sleep 1") > 0
	})
	d.MustLodge("stop", name)
	out, _, err := d.Lodge("file", "pull", name+"/root/term", "-")
	if err != nil || strings.TrimSpace(out) != "got-term" {
		t.Fatalf("the container's process did not finish handling its SIGTERM: %q %v", out, err)
	}
	// The console's shell ignores SIGTERM: the stop ended while it was
	// still there, not after busybox's pause and SIGKILL.
	log, _ := os.ReadFile(filepath.Join(d.Dir, "lodged.log"))
	if !regexp.MustCompile(`nothing left acts on the stop signal.* instance=` + name + ` ignoring_sigterm=1`).Match(log) {
		t.Fatalf("the stop did not end with only the SIGTERM-ignoring shell left:\n%s", linesWith(string(log), "stop signal"))
	}
	d.MustLodge("start", name)
	d.MustLodge("exec", name, "--", "true")
}

// linesWith keeps the lines of text that contain sub.
func linesWith(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestStopBeforeInitHandlesIt: a stop signal sent before the real init
// runs (a stop right after a start, which can reach runc's init before it
// execs /sbin/init) is not lost: it goes again once init has exec'd, and
// the stop is clean rather than a kill at the end of its timeout. Here a
// shell that drops the signal execs busybox's init two seconds late.
func TestStopBeforeInitHandlesIt(t *testing.T) {
	d := withBusybox(t)
	name := uniq("late")
	d.MustLodge("init", "busybox", name)
	d.MustLodge("file", "delete", name+"/sbin/init")
	slow := filepath.Join(t.TempDir(), "init")
	// read -t waits with no signal blocked (sleep would have the shell
	// block them while it waits, and the signal would stay pending).
	script := "#!/bin/sh\nmkfifo /run/slow\nread -t 2 x <> /run/slow\nexec /bin/busybox init\n"
	if err := os.WriteFile(slow, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	d.MustLodge("file", "push", slow, name+"/sbin/init", "--mode", "0755")
	d.MustLodge("start", name)
	d.MustLodge("stop", name, "--timeout", "30")
	log, _ := os.ReadFile(filepath.Join(d.Dir, "lodged.log"))
	if strings.Contains(string(log), "clean stop timed out") {
		t.Fatalf("the stop signal sent before init handled it was lost:\n%s", log)
	}
	if !strings.Contains(string(log), "sending it again") {
		t.Fatalf("the stop signal was not sent again once init exec'd")
	}
}
