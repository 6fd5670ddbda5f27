package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lodge-project/lodge/internal/instance/runtime/container"
)

func debianImage(t *testing.T) string {
	t.Helper()
	return cachedImage(t, "debian.tar.gz", "build-debian-image.sh")
}

// TestDebianSystemd boots Debian 12 with systemd as PID 1, unprivileged.
func TestDebianSystemd(t *testing.T) {
	d := startDaemon(t)
	d.MustLodge("image", "import", debianImage(t), "--alias", "debian")
	name := uniq("deb")
	d.MustLodge("launch", "debian", name, "-c", "limits.memory=512MiB")
	var state string
	waitFor(t, "systemd to finish booting", 60*time.Second, func() bool {
		out, _, _ := d.Lodge("exec", name, "--", "systemctl", "is-system-running")
		state = strings.TrimSpace(out)
		return state == "running" || state == "degraded"
	})
	if state == "degraded" {
		failed, _, _ := d.Lodge("exec", name, "--", "systemctl", "--failed", "--no-legend")
		t.Logf("degraded; failed units:\n%s", failed)
	}
	if pid1 := d.MustLodge("exec", name, "--", "cat", "/proc/1/comm"); strings.TrimSpace(pid1) != "systemd" {
		t.Fatalf("PID 1 is %q", pid1)
	}
	if m := strings.Fields(d.MustLodge("exec", name, "--", "cat", "/proc/self/uid_map")); len(m) != 3 || m[1] == "0" {
		t.Fatalf("uid_map %v: not unprivileged", m)
	}
	// systemd made its own sub-cgroups in the tree delegated to it.
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/systemd", container.CgroupParent(d.Dir), name, "system.slice")); err != nil {
		t.Fatalf("systemd has no system.slice in its delegated cgroup: %v", err)
	}
	start := time.Now()
	d.MustLodge("stop", name)
	t.Logf("clean stop of Debian took %s", time.Since(start))
	if !strings.Contains(d.MustLodge("list", "--format", "csv"), name+",STOPPED") {
		t.Fatal("not stopped")
	}
	if cgroupExists(name) {
		t.Fatal("cgroup left after a clean systemd shutdown")
	}
}
