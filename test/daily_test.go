package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDailyLXC runs the daily flows with Debian's lxc.
func TestDailyLXC(t *testing.T) {
	d := withBusybox(t)
	name := uniq("daily")
	d.MustLXC("profile", "create", "small")
	edit := "config:\n  limits.memory: 128MiB\n  user.team: ops\ndescription: small ones\ndevices: {}\n"
	if _, errOut, err := run([]string{"LXD_DIR=" + d.Dir, "LXD_CONF=" + d.conf}, edit, "lxc", "profile", "edit", "small"); err != nil {
		t.Fatalf("lxc profile edit: %v %s", err, errOut)
	}
	shared := t.TempDir()
	d.MustLXC("profile", "device", "add", "small", "shared", "disk", "source="+shared, "path=/mnt/shared")
	d.MustLXC("launch", "busybox", name)
	d.MustLXC("profile", "assign", name, "default,small")
	if got := cgroupFile(t, "memory", name, "memory.limit_in_bytes"); got != "134217728" {
		t.Fatalf("profile limit after assign: %s", got)
	}
	if _, _, err := d.LXC("exec", name, "--", "test", "-d", "/mnt/shared"); err != nil {
		t.Fatal("profile disk not attached after assign")
	}
	// A profile edit reaches the running instance.
	d.MustLXC("profile", "set", "small", "limits.memory", "160MiB")
	if got := cgroupFile(t, "memory", name, "memory.limit_in_bytes"); got != "167772160" {
		t.Fatalf("profile limit after edit: %s", got)
	}
	// Instance config wins over the profile.
	d.MustLXC("config", "set", name, "limits.memory", "96MiB")
	if got := cgroupFile(t, "memory", name, "memory.limit_in_bytes"); got != "100663296" {
		t.Fatalf("instance limit over profile: %s", got)
	}
	d.MustLXC("config", "unset", name, "limits.memory")
	if got := cgroupFile(t, "memory", name, "memory.limit_in_bytes"); got != "167772160" {
		t.Fatalf("after unset the profile's limit should apply: %s", got)
	}
	if _, errOut, err := d.LXC("profile", "delete", "small"); err == nil || !strings.Contains(errOut, "in use") {
		t.Fatalf("deleting a profile in use: %v %q", err, errOut)
	}
	// config edit through stdin.
	cfg := d.MustLXC("config", "show", name)
	cfg = strings.Replace(cfg, "config:\n", "config:\n  user.edited: \"yes\"\n", 1)
	if _, errOut, err := run([]string{"LXD_DIR=" + d.Dir, "LXD_CONF=" + d.conf}, cfg, "lxc", "config", "edit", name); err != nil {
		t.Fatalf("lxc config edit: %v %s", err, errOut)
	}
	if got := strings.TrimSpace(d.MustLXC("config", "get", name, "user.edited")); got != "yes" {
		t.Fatalf("after config edit: %q", got)
	}
	d.MustLXC("config", "device", "add", name, "null2", "unix-char", "source=/dev/null", "path=/dev/null2")
	d.MustLXC("exec", name, "--", "sh", "-c", "echo > /dev/null2")

	// Snapshots, restore, delete c/snap.
	d.MustLXC("exec", name, "--", "sh", "-c", "echo v1 > /root/v")
	d.MustLXC("snapshot", name, "s1")
	d.MustLXC("exec", name, "--", "sh", "-c", "echo v2 > /root/v")
	d.MustLXC("restore", name, "s1")
	if got := strings.TrimSpace(d.MustLXC("exec", name, "--", "cat", "/root/v")); got != "v1" {
		t.Fatalf("after lxc restore: %q", got)
	}
	if info := d.MustLXC("info", name); !strings.Contains(info, "s1") || !strings.Contains(info, "RUNNING") {
		t.Fatalf("lxc info:\n%s", info)
	}
	d.MustLXC("snapshot", name, "s2")
	d.MustLXC("delete", name+"/s2")
	if info := d.MustLXC("info", name); strings.Contains(info, "s2") {
		t.Fatalf("deleted snapshot still listed:\n%s", info)
	}
	// Copy and move.
	cp := uniq("cp")
	d.MustLXC("copy", name, cp)
	d.MustLXC("start", cp)
	if got := strings.TrimSpace(d.MustLXC("exec", cp, "--", "cat", "/root/v")); got != "v1" {
		t.Fatalf("lxc copy: %q", got)
	}
	d.MustLXC("stop", "-f", cp)
	moved := uniq("mv")
	d.MustLXC("move", cp, moved)
	if out := d.MustLXC("list", "--format", "csv", "-c", "n"); !strings.Contains(out, moved) || strings.Contains(out, cp) {
		t.Fatalf("lxc move: %q", out)
	}
	if out := d.MustLXC("list", "--format", "csv", "-c", "nS"); !strings.Contains(out, name+",1") {
		t.Fatalf("lxc list snapshot count: %q", out)
	}
}

const pylxdDaily = `
import sys
from pylxd import Client
c = Client()
name = sys.argv[1]
p = c.profiles.create("pyprof", config={"limits.processes": "77"}, devices={})
ct = c.containers.create({"name": name, "source": {"type": "image", "alias": "busybox"},
                          "profiles": ["default", "pyprof"]}, wait=True)
ct.start(wait=True)
ct.files.put("/root/hello.txt", b"from pylxd\n")
print("file", ct.files.get("/root/hello.txt").decode().strip())
ct.files.delete("/root/hello.txt")
ct.snapshots.create("py1", wait=True)
print("snaps", [s.name for s in ct.snapshots.all()])
snap = ct.snapshots.get("py1")
snap.rename("py2", wait=True)
print("renamed", [s.name for s in ct.snapshots.all()])
snap = ct.snapshots.get("py2")
snap.delete(wait=True)
print("after", len(ct.snapshots.all()))
p = c.profiles.get("pyprof")
p.config["limits.processes"] = "88"
p.save()
print("profile", c.profiles.get("pyprof").config["limits.processes"])
ct.stop(force=True, wait=True)
ct.delete(wait=True)
c.profiles.get("pyprof").delete()
print("profiles", sorted(x.name for x in c.profiles.all()))
`

func TestPylxdDaily(t *testing.T) {
	d := withBusybox(t)
	script := filepath.Join(d.Dir, "daily.py")
	if err := os.WriteFile(script, []byte(pylxdDaily), 0o644); err != nil {
		t.Fatal(err)
	}
	name := uniq("pyd")
	out, errOut, err := run([]string{"LXD_DIR=" + d.Dir}, "", "/usr/bin/python3", script, name)
	if err != nil {
		t.Fatalf("pylxd: %v\n%s\n%s", err, out, errOut)
	}
	for _, want := range []string{"file from pylxd", "snaps ['py1']", "renamed ['py2']", "after 0", "profile 88", "profiles ['default']"} {
		if !strings.Contains(out, want) {
			t.Fatalf("pylxd output lacks %q:\n%s\n%s", want, out, errOut)
		}
	}
}

// TestLimitsInside checks the limits' effect from inside: nproc follows
// limits.cpu, and a memory hog is killed at limits.memory.
func TestLimitsInside(t *testing.T) {
	d := withBusybox(t)
	name := uniq("eff")
	d.MustLodge("launch", "busybox", name, "-c", "limits.cpu=1", "-c", "limits.memory=32MiB")
	if got := strings.TrimSpace(d.MustLodge("exec", name, "--", "nproc")); got != "1" {
		t.Fatalf("nproc with limits.cpu=1: %q", got)
	}
	// 64 MiB of non-zero data in a tmpfs-backed shell variable is too much.
	_, _, err := d.Lodge("exec", name, "--", "sh", "-c", "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo ${#x}")
	if err == nil {
		t.Fatal("a 64 MiB hog survived a 32 MiB limit")
	}
	if ee, ok := err.(interface{ ExitCode() int }); !ok || ee.ExitCode() != 137 {
		t.Fatalf("the hog was not killed by the OOM killer: %v", err)
	}
	if failcnt := cgroupFile(t, "memory", name, "memory.failcnt"); failcnt == "0" {
		t.Fatal("memory.failcnt is 0 after the hog")
	}
	d.MustLodge("config", "set", name, "limits.cpu=2")
	if got := strings.TrimSpace(d.MustLodge("exec", name, "--", "nproc")); got != "2" {
		t.Fatalf("nproc after limits.cpu=2: %q", got)
	}
}
