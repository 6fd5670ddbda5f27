package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/hostcheck"
)

// warnings lists the daemon's warnings, resolved ones too.
func warnings(t *testing.T, d *Daemon) []api.Warning {
	t.Helper()
	var ws []api.Warning
	st, env := d.API("GET", "/1.0/warnings?recursion=1", nil)
	if st != 200 {
		t.Fatalf("GET /1.0/warnings: %d %s", st, env.Error)
	}
	if err := json.Unmarshal(env.Metadata, &ws); err != nil {
		t.Fatal(err)
	}
	return ws
}

// warningOf is the warning of type typ on entity, if there is one.
func warningOf(t *testing.T, d *Daemon, typ, entity string) (api.Warning, bool) {
	for _, w := range warnings(t, d) {
		if w.Type == typ && w.EntityURL == entity {
			return w, true
		}
	}
	return api.Warning{}, false
}

func TestWarnings(t *testing.T) {
	d := withBusybox(t)

	// The host's own: one for each missing part lodged checks, none for
	// the parts it has. lodge check reports the same parts.
	report := hostcheck.Host{}.Check()
	hostTypes := map[string]string{
		hostcheck.SwapAccounting:         "Couldn't find the CGroup memory swap accounting",
		hostcheck.IOWeight:               "Couldn't find the CGroup blkio.weight",
		hostcheck.AppArmor:               "AppArmor support has been disabled",
		hostcheck.LXCFS:                  "lxcfs is not running",
		hostcheck.ControllerItem("pids"): "Couldn't find the CGroup pids controller",
	}
	waitFor(t, "the host's warnings", 10*time.Second, func() bool {
		for name, typ := range hostTypes {
			it, _ := report.Find(name)
			if _, found := warningOf(t, d, typ, ""); found == it.OK {
				return false
			}
		}
		return true
	})
	for name, typ := range hostTypes {
		it, _ := report.Find(name)
		if w, found := warningOf(t, d, typ, ""); found && (w.Status != "new" || w.Severity != "low" || !strings.Contains(w.LastMessage, it.For)) {
			t.Errorf("%s: %+v", name, w)
		}
	}
	// Without lxcfs, lodged starts and says so once in its log.
	if it, _ := report.Find(hostcheck.LXCFS); !it.OK {
		logText, _ := os.ReadFile(filepath.Join(d.Dir, "lodged.log"))
		if n := strings.Count(string(logText), "lxcfs is not running"); n != 1 {
			t.Errorf("lodged's log says %d times that lxcfs is not running, want once", n)
		}
	}
	out := d.MustLodge("check")
	for _, want := range []string{"--- Namespaces ---", "--- Control groups ---", "user namespaces:", "idmapped mounts under overlayfs:", "CRIU:", "lxcfs:"} {
		if !strings.Contains(out, want) {
			t.Errorf("lodge check lacks %q:\n%s", want, out)
		}
	}
	var parsed hostcheck.Report
	if err := yaml.Unmarshal([]byte(d.MustLodge("check", "--format", "yaml")), &parsed); err != nil || len(parsed.Items) < 20 {
		t.Errorf("lodge check --format yaml: %v, %d items", err, len(parsed.Items))
	}

	// An instance that cannot autostart: its disk's source is gone when
	// lodged starts.
	src := t.TempDir()
	d.MustLodge("init", "busybox", "auto1", "-c", "boot.autostart=true")
	d.MustLodge("config", "device", "add", "auto1", "data", "disk", "source="+src, "path=/mnt")
	d.Stop()
	if err := os.Remove(src); err != nil {
		t.Fatal(err)
	}
	d.Start()
	var w api.Warning
	waitFor(t, "the autostart warning", 20*time.Second, func() bool {
		var found bool
		w, found = warningOf(t, d, "Failed to autostart instance", "/1.0/instances/auto1")
		return found
	})
	if w.Status != "new" || w.Project != "default" || w.Count != 1 || !strings.Contains(w.LastMessage, "auto1") || !strings.Contains(w.LastMessage, src) {
		t.Fatalf("the autostart warning: %+v", w)
	}
	// lxc 5.0.2 lists, shows and acknowledges it.
	if out := d.MustLXC("warning", "list", "--format", "csv"); !strings.Contains(out, w.UUID) || !strings.Contains(out, "Failed to autostart instance") {
		t.Errorf("lxc warning list:\n%s", out)
	}
	if out := d.MustLXC("warning", "show", w.UUID); !strings.Contains(out, "entity_url: /1.0/instances/auto1") {
		t.Errorf("lxc warning show:\n%s", out)
	}
	d.MustLXC("warning", "ack", w.UUID)
	if got, _ := warningOf(t, d, w.Type, w.EntityURL); got.Status != "acknowledged" {
		t.Errorf("after lxc warning ack: %+v", got)
	}
	// A client may not resolve a warning: Lodge does, once the cause is gone.
	if st, _ := d.API("PUT", "/1.0/warnings/"+w.UUID, map[string]string{"status": "resolved"}); st != 400 {
		t.Errorf("PUT status resolved: %d, want 400", st)
	}
	if st, _ := d.API("GET", "/1.0/warnings/no-such-uuid", nil); st != 404 {
		t.Errorf("an unknown warning: %d, want 404", st)
	}
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	d.MustLodge("start", "auto1")
	if got, _ := warningOf(t, d, w.Type, w.EntityURL); got.Status != "resolved" {
		t.Errorf("after auto1 started: %+v", got)
	}
	if out := d.MustLodge("warning", "list"); strings.Contains(out, w.UUID) {
		t.Errorf("lodge warning list shows a resolved warning:\n%s", out)
	}
	if out := d.MustLodge("warning", "list", "--all"); !strings.Contains(out, w.UUID) {
		t.Errorf("lodge warning list --all lacks the resolved warning:\n%s", out)
	}
	if st, env := d.API("GET", "/1.0/warnings?recursion=1&filter=status+eq+resolved", nil); st != 200 || !strings.Contains(string(env.Metadata), w.UUID) {
		t.Errorf("?filter=status eq resolved: %d %s", st, env.Metadata)
	}
	d.MustLodge("warning", "delete", w.UUID[:8])
	if _, found := warningOf(t, d, w.Type, w.EntityURL); found {
		t.Error("lodge warning delete left the warning")
	}
}

func TestDnsmasqThatKeepsExitingIsAWarning(t *testing.T) {
	d, _ := startDaemonInNetns(t)
	br := uniq("wbr")
	d.MustLodge("network", "create", br)
	pidFile := filepath.Join(d.Dir, "networks", br, "dnsmasq.pid")
	pidOf := func() int {
		data, _ := os.ReadFile(pidFile)
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		return pid
	}
	entity := "/1.0/networks/" + br
	for i := 0; i < 2; i++ {
		var pid int
		waitFor(t, "dnsmasq to run", 10*time.Second, func() bool { pid = pidOf(); return pid > 0 && syscall.Kill(pid, 0) == nil })
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "dnsmasq to be restarted", 10*time.Second, func() bool { return pidOf() != pid && pidOf() > 0 })
		if _, found := warningOf(t, d, "dnsmasq keeps exiting", entity); found != (i == 1) {
			t.Fatalf("after %d exits, a warning: %v", i+1, found)
		}
	}
	w, _ := warningOf(t, d, "dnsmasq keeps exiting", entity)
	if w.Severity != "high" || !strings.Contains(w.LastMessage, "exited 2 times") {
		t.Fatalf("the warning: %+v", w)
	}
	d.MustLodge("network", "delete", br)
	if w, _ := warningOf(t, d, "dnsmasq keeps exiting", entity); w.Status != "resolved" {
		t.Fatalf("after the network went: %+v", w)
	}
}
