package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLXCClient runs the flows with Debian's lxc (lxd-client 5.0).
func TestLXCClient(t *testing.T) {
	d := startDaemon(t)
	d.MustLXC("image", "import", busyboxImage(t), "--alias", "bb")
	if out := d.MustLXC("image", "list"); !strings.Contains(out, "bb") {
		t.Fatalf("lxc image list:\n%s", out)
	}
	name := uniq("lxc")
	d.MustLXC("launch", "bb", name)
	// The image's properties, as image.* keys (container_image_properties).
	if out := d.MustLXC("config", "get", name, "image.os"); strings.TrimSpace(out) != "busybox" {
		t.Fatalf("lxc config get image.os: %q", out)
	}
	if out := d.MustLXC("list"); !strings.Contains(out, name) || !strings.Contains(out, "RUNNING") {
		t.Fatalf("lxc list:\n%s", out)
	}
	if out := d.MustLXC("list", name, "--format", "csv", "-c", "ns"); strings.TrimSpace(out) != name+",RUNNING" {
		t.Fatalf("lxc list NAME: %q", out)
	}
	// Non-interactive exec: stdout, stderr, exit code.
	out, errOut, err := d.LXC("exec", name, "--", "sh", "-c", "echo out; echo err >&2; exit 5")
	if out != "out\n" || errOut != "err\n" {
		t.Fatalf("lxc exec: stdout %q stderr %q", out, errOut)
	}
	if ee, ok := err.(interface{ ExitCode() int }); !ok || ee.ExitCode() != 5 {
		t.Fatalf("lxc exec exit code: %v", err)
	}
	// Interactive exec: lxc on a pty (script gives it one).
	out, _, err = run([]string{"LXD_DIR=" + d.Dir, "LXD_CONF=" + d.conf}, "", "script", "-qec",
		"lxc exec "+name+" -- sh -c 'tty; echo interactive-ok'", "/dev/null")
	if err != nil || !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "interactive-ok") {
		t.Fatalf("interactive lxc exec: %v %q", err, out)
	}
	d.MustLXC("config", "set", name, "limits.memory=96MiB")
	if got := cgroupFile(t, "memory", name, "memory.limit_in_bytes"); got != "100663296" {
		t.Fatalf("lxc config set limits.memory: cgroup says %s", got)
	}
	if got := strings.TrimSpace(d.MustLXC("config", "get", name, "limits.memory")); got != "96MiB" {
		t.Fatalf("lxc config get: %q", got)
	}
	if _, errOut, err := d.LXC("config", "set", name, "limits.bogus=1"); err == nil || !strings.Contains(errOut, "unknown config key") {
		t.Fatalf("lxc config set of an unknown key: %v %q", err, errOut)
	}
	d.MustLXC("stop", name, "--force")
	if out := d.MustLXC("list", "--format", "csv", "-c", "ns"); !strings.Contains(out, name+",STOPPED") {
		t.Fatalf("after lxc stop: %q", out)
	}
	d.MustLXC("start", name)
	d.MustLXC("delete", "--force", name)
	if out := d.MustLXC("list", "--format", "csv"); strings.TrimSpace(out) != "" {
		t.Fatalf("after lxc delete: %q", out)
	}
	// lxc image info, alias and delete.
	if out := d.MustLXC("image", "info", "bb"); !strings.Contains(out, "Fingerprint") {
		t.Fatalf("lxc image info:\n%s", out)
	}
	d.MustLXC("image", "delete", "bb")
}

const pylxdScript = `
import sys
from pylxd import Client
c = Client()
name = sys.argv[1]
ct = c.containers.create({"name": name, "source": {"type": "image", "alias": "busybox"},
                          "config": {"limits.memory": "64MiB"}}, wait=True)
ct.start(wait=True)
ct.sync()
assert ct.status == "Running", ct.status
res = ct.execute(["sh", "-c", "echo pylxd-$((40+2)); echo to-stderr >&2; exit 3"])
for i in range(10):  # pylxd's websocket thread once raised now and then
    again = ct.execute(["echo", str(i)])
    assert again.exit_code == 0 and again.stdout == "%d\n" % i, again
print("exit", res.exit_code)
print("stdout", res.stdout.strip())
print("stderr", res.stderr.strip())
ct.stop(wait=True)
ct.sync()
print("status", ct.status)
ct.delete(wait=True)
print("exists", c.containers.exists(name))
`

// TestPylxd drives Lodge with Debian's python3-pylxd.
func TestPylxd(t *testing.T) {
	d := withBusybox(t)
	script := filepath.Join(d.Dir, "flow.py")
	if err := os.WriteFile(script, []byte(pylxdScript), 0o644); err != nil {
		t.Fatal(err)
	}
	name := uniq("py")
	out, errOut, err := run([]string{"LXD_DIR=" + d.Dir}, "", "/usr/bin/python3", script, name)
	if err != nil {
		t.Fatalf("pylxd: %v\n%s\n%s", err, out, errOut)
	}
	for _, want := range []string{"exit 3", "stdout pylxd-42", "stderr to-stderr", "status Stopped", "exists False"} {
		if !strings.Contains(out, want) {
			t.Fatalf("pylxd output lacks %q:\n%s\n%s", want, out, errOut)
		}
	}
	if strings.Contains(errOut, "Traceback") {
		t.Fatalf("pylxd raised:\n%s", errOut)
	}
	_, env := d.API("GET", "/1.0/instances", nil)
	var left []string
	_ = json.Unmarshal(env.Metadata, &left)
	if len(left) != 0 {
		t.Fatalf("left after pylxd delete: %v", left)
	}
}
