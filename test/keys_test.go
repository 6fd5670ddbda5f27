package test

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMoreLimitKeys(t *testing.T) {
	d := withBusybox(t)
	name := uniq("keys")
	d.MustLodge("launch", "busybox", name, "-c", "limits.memory=64MiB", "-c", "limits.memory.swap=false", "-c", "limits.cpu.priority=0")
	if got := cgroupFile(t, "memory", name, "memory.memsw.limit_in_bytes"); got != "67108864" {
		t.Fatalf("swap off: memsw limit %s", got)
	}
	if got := cgroupFile(t, "memory", name, "memory.swappiness"); got != "0" {
		t.Fatalf("swap off: swappiness %s", got)
	}
	if got := cgroupFile(t, "cpu", name, "cpu.shares"); got != "93" {
		t.Fatalf("cpu priority 0: shares %s", got)
	}
	d.MustLodge("config", "set", name, "limits.memory.enforce=soft", "limits.memory.swap=true", "limits.cpu.priority=10")
	if got := cgroupFile(t, "memory", name, "memory.soft_limit_in_bytes"); got != "67108864" {
		t.Fatalf("soft limit %s", got)
	}
	if got := cgroupFile(t, "memory", name, "memory.limit_in_bytes"); got == "67108864" {
		t.Fatal("soft enforcement kept the hard limit")
	}
	if got := cgroupFile(t, "cpu", name, "cpu.shares"); got != "1024" {
		t.Fatalf("cpu priority 10: shares %s", got)
	}
	// Disk throttles on the root disk, read back from blkio.
	d.MustLodge("config", "device", "add", name, "root", "disk", "path=/", "pool=default", "limits.read=10MB", "limits.write=200iops")
	var st unix.Stat_t
	if err := unix.Stat(d.Dir, &st); err != nil {
		t.Fatal(err)
	}
	if got := cgroupFile(t, "blkio", name, "blkio.throttle.read_bps_device"); !strings.HasSuffix(got, " 10000000") {
		t.Fatalf("read_bps_device: %q", got)
	}
	if got := cgroupFile(t, "blkio", name, "blkio.throttle.write_iops_device"); !strings.HasSuffix(got, " 200") {
		t.Fatalf("write_iops_device: %q", got)
	}
	d.MustLodge("config", "device", "remove", name, "root")
	if got := cgroupFile(t, "blkio", name, "blkio.throttle.read_bps_device"); got != "" {
		t.Fatalf("throttle left after removing the limit: %q", got)
	}
	if _, stderr, err := d.Lodge("config", "set", name, "limits.disk.priority=5"); err == nil || !strings.Contains(stderr, "weights") {
		t.Fatalf("limits.disk.priority on a host without I/O weights: %v %q", err, stderr)
	}
	// Namespaced sysctls apply; host-wide ones are refused.
	d.MustLodge("stop", "-f", name)
	d.MustLodge("config", "set", name, "linux.sysctl.net.ipv4.ip_forward=1")
	d.MustLodge("start", name)
	if got := strings.TrimSpace(d.MustLodge("exec", name, "--", "cat", "/proc/sys/net/ipv4/ip_forward")); got != "1" {
		t.Fatalf("linux.sysctl.net.ipv4.ip_forward: %q", got)
	}
	if _, stderr, err := d.Lodge("config", "set", name, "linux.sysctl.vm.swappiness=1"); err == nil || !strings.Contains(stderr, "namespaced") {
		t.Fatalf("a host-wide sysctl: %v %q", err, stderr)
	}
}

func TestIsolatedIDMap(t *testing.T) {
	d := withBusybox(t)
	a, b, shared := uniq("iso"), uniq("iso"), uniq("shr")
	d.MustLodge("launch", "busybox", a, "-c", "security.idmap.isolated=true")
	d.MustLodge("launch", "busybox", b, "-c", "security.idmap.isolated=true")
	d.MustLodge("launch", "busybox", shared)
	base := func(n string) string {
		return strings.Fields(d.MustLodge("exec", n, "--", "cat", "/proc/self/uid_map"))[1]
	}
	if base(a) == base(b) || base(a) == base(shared) || base(b) == base(shared) {
		t.Fatalf("isolated instances share host ids: %s %s %s", base(a), base(b), base(shared))
	}
	if owner := strings.Fields(d.MustLodge("exec", a, "--", "ls", "-ln", "/etc/passwd"))[2]; owner != "0" {
		t.Fatalf("rootfs of an isolated instance not shifted to its range: owner %s", owner)
	}
	owner := func(n, path string) string {
		t.Helper()
		return strings.Fields(d.MustLodge("exec", n, "--", "ls", "-lnd", path))[2]
	}
	// Turning isolation on for a stopped shared instance moves it to a range
	// of its own; a snapshot from before keeps the files of the shared one.
	sharedBase := base(shared)
	d.MustLodge("exec", shared, "--", "sh", "-c", "echo before > /root/mark && chown 1000:1000 /home/user")
	d.MustLodge("snapshot", shared, "onshared")
	d.MustLodge("stop", "-f", shared)
	d.MustLodge("config", "set", shared, "security.idmap.isolated=true")
	d.MustLodge("start", shared)
	if b2 := base(shared); b2 == base(a) || b2 == base(b) || b2 == sharedBase {
		t.Fatalf("newly isolated instance got %s", b2)
	}
	if o := owner(shared, "/etc/passwd"); o != "0" {
		t.Fatalf("rootfs not re-shifted: owner %s", o)
	}
	// A copy of an isolated instance gets a range of its own too.
	a2 := uniq("iso")
	d.MustLodge("copy", a, a2)
	d.MustLodge("start", a2)
	if base(a2) == base(a) || owner(a2, "/etc/passwd") != "0" {
		t.Fatalf("copy of an isolated instance: base %s (source %s), owner %s", base(a2), base(a), owner(a2, "/etc/passwd"))
	}
	// Restoring the snapshot from before the remap, and copying it, give
	// files on the map their instance runs with.
	for _, c := range []struct{ what, name string }{{"restore", shared}, {"copy of the snapshot", uniq("cps")}} {
		if c.name == shared {
			d.MustLodge("restore", shared, "onshared")
		} else {
			d.MustLodge("copy", shared+"/onshared", c.name)
			d.MustLodge("start", c.name)
		}
		if o, u, m := owner(c.name, "/etc/passwd"), owner(c.name, "/home/user"), owner(c.name, "/root/mark"); o != "0" || u != "1000" || m != "0" {
			t.Fatalf("%s of a snapshot taken before a remap: /etc/passwd %s, /home/user %s, /root/mark %s (want 0, 1000, 0)", c.what, o, u, m)
		}
	}
}

// TestNesting: a nesting container gets proc and sysfs without Lodge's
// masks and read-only overmounts, so a container manager inside sees a
// fully visible proc to build its own containers' from; a plain one has
// them.
func TestNesting(t *testing.T) {
	d := withBusybox(t)
	plain, nested := uniq("flat"), uniq("nest")
	d.MustLodge("launch", "busybox", plain)
	d.MustLodge("launch", "busybox", nested, "-c", "security.nesting=true")
	overmounts := func(name string) string {
		return d.MustLodge("exec", name, "--", "sh", "-c", "grep -E ' /proc/(bus|irq|kcore|keys) ' /proc/mounts || true")
	}
	if out := overmounts(plain); !strings.Contains(out, "/proc/bus") || !strings.Contains(out, "/proc/keys") {
		t.Fatalf("a plain container lacks the proc masks:\n%s", out)
	}
	if out := overmounts(nested); strings.TrimSpace(out) != "" {
		t.Fatalf("a nesting container still has proc overmounts:\n%s", out)
	}
	// security.nesting applies at the next start.
	d.MustLodge("config", "set", plain, "security.nesting=true")
	d.MustLodge("restart", "-f", plain)
	if out := overmounts(plain); strings.TrimSpace(out) != "" {
		t.Fatalf("nesting after a restart still has overmounts:\n%s", out)
	}
}
