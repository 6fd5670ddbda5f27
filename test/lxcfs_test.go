package test

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// lxcfsStarted is the lxcfs a test started (nil: none, or the host's
// own runs). It runs until the tests end: containers of later tests get
// its views too, and would see dead mounts if it stopped under them.
var lxcfsStarted *exec.Cmd

func lxcfsMounted() bool {
	out, _ := exec.Command("findmnt", "-n", "-o", "FSTYPE", "/var/lib/lxcfs").Output()
	return strings.TrimSpace(string(out)) == "fuse.lxcfs"
}

// lxcfsUp makes sure lxcfs runs at /var/lib/lxcfs: the host's, or one
// started here (stopped by stopLxcfs when the tests end).
func lxcfsUp(t *testing.T) {
	t.Helper()
	if lxcfsMounted() {
		return
	}
	if _, err := exec.LookPath("lxcfs"); err != nil {
		t.Fatal("lxcfs is not installed (scripts/install-deps.sh installs it)")
	}
	if err := os.MkdirAll("/var/lib/lxcfs", 0o755); err != nil {
		t.Fatal(err)
	}
	lxcfsStarted = exec.Command("lxcfs", "/var/lib/lxcfs")
	if err := lxcfsStarted.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "lxcfs to mount", 10*time.Second, lxcfsMounted)
}

// stopLxcfs stops the lxcfs a test started.
func stopLxcfs() {
	if lxcfsStarted == nil {
		return
	}
	_ = lxcfsStarted.Process.Signal(syscall.SIGTERM)
	_ = lxcfsStarted.Wait()
	if lxcfsMounted() {
		_ = exec.Command("umount", "-l", "/var/lib/lxcfs").Run()
	}
}

func TestLxcfsViews(t *testing.T) {
	lxcfsUp(t)
	d := withBusybox(t)
	d.MustLodge("launch", "busybox", "lx1", "-c", "limits.memory=128MiB", "-c", "limits.cpu=1")
	// /proc/meminfo: the container's limit, not the host's memory.
	if out := d.MustLodge("exec", "lx1", "--", "head", "-1", "/proc/meminfo"); strings.Join(strings.Fields(out), " ") != "MemTotal: 131072 kB" {
		t.Errorf("/proc/meminfo inside begins %q, want MemTotal of limits.memory, 131072 kB", out)
	}
	if out := strings.TrimSpace(d.MustLodge("exec", "lx1", "--", "nproc")); out != "1" {
		t.Errorf("nproc inside: %q, want 1 (limits.cpu)", out)
	}
	if out := d.MustLodge("exec", "lx1", "--", "grep", "-c", "^processor", "/proc/cpuinfo"); strings.TrimSpace(out) != "1" {
		t.Errorf("/proc/cpuinfo lists %s processors, want 1", out)
	}
	if out := strings.TrimSpace(d.MustLodge("exec", "lx1", "--", "cat", "/sys/devices/system/cpu/online")); out != "0" && !strings.Contains(out, "-") && len(out) > 2 {
		t.Errorf("/sys/devices/system/cpu/online: %q", out)
	}
	// Uptime is the container's: it started seconds ago.
	up := strings.Fields(d.MustLodge("exec", "lx1", "--", "cat", "/proc/uptime"))
	if secs, err := strconv.ParseFloat(up[0], 64); err != nil || secs > 120 {
		t.Errorf("/proc/uptime inside: %v (want the container's seconds)", up)
	}
	for _, f := range []string{"stat", "loadavg", "diskstats", "swaps"} {
		if out := d.MustLodge("exec", "lx1", "--", "grep", "-c", " /proc/"+f+" fuse.lxcfs ", "/proc/mounts"); strings.TrimSpace(out) != "1" {
			t.Errorf("/proc/%s is not lxcfs's view", f)
		}
	}
}

// TestLxcfsFreeInDebian: procps's free (which reads /proc/meminfo, where
// busybox's asks the kernel's sysinfo(2), which lxcfs cannot change) and
// nproc in a Debian container match its limits.
func TestLxcfsFreeInDebian(t *testing.T) {
	lxcfsUp(t)
	d := startDaemon(t)
	d.MustLodge("image", "import", debianImage(t), "--alias", "debian")
	d.MustLodge("launch", "debian", "lxd1", "-c", "limits.memory=256MiB", "-c", "limits.cpu=1")
	out := d.MustLodge("exec", "lxd1", "--", "free", "-m")
	var total int
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "Mem:" {
			total, _ = strconv.Atoi(f[1])
		}
	}
	if total != 256 {
		t.Errorf("free -m inside shows %d MiB total, want 256 (limits.memory):\n%s", total, out)
	}
	if out := strings.TrimSpace(d.MustLodge("exec", "lxd1", "--", "nproc")); out != "1" {
		t.Errorf("nproc inside: %q, want 1 (limits.cpu)", out)
	}
}
