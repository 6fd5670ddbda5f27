package test

import (
	"strings"
	"testing"
)

func TestLimitsLive(t *testing.T) {
	d := withBusybox(t)
	name := uniq("lim")
	d.MustLodge("launch", "busybox", name, "-c", "limits.memory=128MiB", "-c", "limits.processes=50", "-c", "limits.cpu=1")
	check := func(controller, file, want string) {
		t.Helper()
		if got := cgroupFile(t, controller, name, file); got != want {
			t.Fatalf("%s/%s = %q, want %q", controller, file, got, want)
		}
	}
	check("memory", "memory.limit_in_bytes", "134217728")
	check("pids", "pids.max", "50")
	check("cpuset", "cpuset.cpus", "0")

	// Live: no restart, the same init keeps running.
	pid := statePid(t, d, name)
	d.MustLodge("config", "set", name, "limits.memory=256MiB", "limits.processes=80", "limits.cpu.allowance=25ms/100ms")
	check("memory", "memory.limit_in_bytes", "268435456")
	check("pids", "pids.max", "80")
	check("cpu", "cpu.cfs_quota_us", "25000")
	check("cpu", "cpu.cfs_period_us", "100000")
	d.MustLodge("config", "set", name, "limits.cpu.allowance=50%")
	check("cpu", "cpu.shares", "512")
	check("cpu", "cpu.cfs_quota_us", "-1")

	// The container sees its limit.
	if out := d.MustLodge("exec", name, "--", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"); strings.TrimSpace(out) != "268435456" {
		t.Fatalf("limit inside the container: %q", out)
	}
	d.MustLodge("config", "unset", name, "limits.memory", "limits.processes")
	if got := cgroupFile(t, "memory", name, "memory.limit_in_bytes"); got == "268435456" {
		t.Fatal("unset limits.memory left the limit in place")
	}
	check("pids", "pids.max", "max")
	if statePid(t, d, name) != pid {
		t.Fatal("a live limit change restarted the container")
	}
	if got := strings.TrimSpace(d.MustLodge("config", "get", name, "limits.cpu.allowance")); got != "50%" {
		t.Fatalf("config get: %q", got)
	}

	// A percentage of host memory.
	d.MustLodge("config", "set", name, "limits.memory=50%")
	if got := cgroupFile(t, "memory", name, "memory.limit_in_bytes"); got == "" || got == "9223372036854771712" {
		t.Fatalf("limits.memory=50%% gave %q", got)
	}

	// A bad value is refused and changes nothing.
	if _, stderr, err := d.Lodge("config", "set", name, "limits.memory=lots"); err == nil || !strings.Contains(stderr, "limits.memory") {
		t.Fatalf("bad limits.memory: %v %s", err, stderr)
	}
}

func TestETag(t *testing.T) {
	d := withBusybox(t)
	name := uniq("etag")
	d.MustLodge("init", "busybox", name)
	etag := d.ETag("/1.0/instances/" + name)
	if etag == "" {
		t.Fatal("GET of an instance has no ETag")
	}
	if st := mustRequest(t, d, "PATCH", "/1.0/instances/"+name, `{"config":{"user.a":"1"}}`, etag); st != 202 {
		t.Fatalf("PATCH with a fresh If-Match: %d", st)
	}
	// The first write changed the ETag: writing with the old one is refused.
	if st := mustRequest(t, d, "PATCH", "/1.0/instances/"+name, `{"config":{"user.b":"2"}}`, etag); st != 412 {
		t.Fatalf("stale If-Match: %d, want 412", st)
	}
	if got := strings.TrimSpace(d.MustLodge("config", "get", name, "user.b")); got != "" {
		t.Fatalf("a refused write landed: user.b=%q", got)
	}
}
