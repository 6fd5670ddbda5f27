package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lodge-project/lodge/api"
)

// TestAdvertisedExtensions shows, with Debian's lxc where a client is
// involved, the promises of the extensions that no other test covers (the
// table in internal/daemon/extensions.go names the test of each).
func TestAdvertisedExtensions(t *testing.T) {
	d := withBusybox(t)
	_, env := d.API("GET", "/1.0", nil)
	var srv api.Server
	_ = json.Unmarshal(env.Metadata, &srv)
	for _, gone := range []string{"image_aliases_description", "resource_limits_processes", "container_console_log"} {
		for _, e := range srv.APIExtensions {
			if e == gone {
				t.Errorf("%s is advertised, but does not work (or is no LXD extension)", gone)
			}
		}
	}

	// storage: the everyday launch with a pool, and the pool commands.
	name := uniq("ext")
	d.MustLXC("launch", "busybox", name, "-s", "default")
	if out := d.MustLXC("storage", "list"); !strings.Contains(out, "default") || !strings.Contains(out, "dir") {
		t.Fatalf("lxc storage list:\n%s", out)
	}
	if out := d.MustLXC("storage", "show", "default"); !strings.Contains(out, "/1.0/instances/"+name) {
		t.Fatalf("lxc storage show default does not list the instance:\n%s", out)
	}
	if _, stderr, err := d.LXC("launch", "busybox", uniq("ext"), "-s", "nosuchpool"); err == nil || !strings.Contains(stderr, "nosuchpool") {
		t.Fatalf("launch on a missing pool: %v %q", err, stderr)
	}

	// container_last_used_at, profile_usedby.
	_, env = d.API("GET", "/1.0/instances/"+name, nil)
	var inst api.Instance
	_ = json.Unmarshal(env.Metadata, &inst)
	if inst.LastUsedAt.IsZero() || time.Since(inst.LastUsedAt) > time.Hour {
		t.Errorf("last_used_at after a start: %v", inst.LastUsedAt)
	}
	_, env = d.API("GET", "/1.0/profiles/default", nil)
	if !strings.Contains(string(env.Metadata), `"/1.0/instances/`+name+`"`) {
		t.Errorf("the default profile's used_by lacks the instance: %s", env.Metadata)
	}

	// operation_description.
	st, env := d.API("POST", "/1.0/instances/"+name+"/snapshots", map[string]any{"name": "s1", "expires_at": "2031-01-02T03:04:05Z"})
	if st != 202 && st != 200 {
		t.Fatalf("snapshot: %d %s", st, env.Error)
	}
	var op api.Operation
	_ = json.Unmarshal(env.Metadata, &op)
	if op.Description == "" {
		t.Errorf("the snapshot's operation has no description: %s", env.Metadata)
	}
	// snapshot_expiry_creation.
	_, env = d.API("GET", "/1.0/instances/"+name+"/snapshots/s1", nil)
	if !strings.Contains(string(env.Metadata), `"expires_at":"2031-01-02T03:04:05Z"`) {
		t.Errorf("snapshot created with expires_at: %s", env.Metadata)
	}

	// file_append.
	for range 2 {
		if st, body := d.raw("POST", filesPath(name, "/root/appended"), map[string]string{"X-LXD-write": "append"}, []byte("line\n")); st != 200 {
			t.Fatalf("append: %d %s", st, body)
		}
	}
	if out := d.MustLodge("exec", name, "--", "cat", "/root/appended"); out != "line\nline\n" {
		t.Errorf("appended file: %q", out)
	}

	// instance_all_projects, and the one project there is: a request for
	// another acts on nothing.
	_, env = d.API("GET", "/1.0/instances?all-projects=true&recursion=1", nil)
	if !strings.Contains(string(env.Metadata), `"name":"`+name+`"`) || !strings.Contains(string(env.Metadata), `"project":"default"`) {
		t.Errorf("all-projects list: %s", env.Metadata)
	}
	if out := d.MustLXC("list", "--all-projects", "--format", "csv", "-c", "n"); !strings.Contains(out, name) {
		t.Errorf("lxc list --all-projects: %q", out)
	}
	if st, env := d.API("DELETE", "/1.0/instances/"+name+"?project=foo", nil); st != 404 || !strings.Contains(env.Error, "Project not found") {
		t.Errorf("a request for project foo: %d %q (want 404 Project not found)", st, env.Error)
	}
	if _, stderr, err := d.LXC("delete", "-f", name, "--project", "foo"); err == nil || !strings.Contains(stderr, "Project not found") {
		t.Errorf("lxc delete --project foo: %v %q", err, stderr)
	}
	if st, _ := d.API("GET", "/1.0/instances/"+name, nil); st != 200 {
		t.Fatal("a request for another project acted on the default one")
	}

	// Server keys: one not honoured is refused by name; unsetting one
	// changes nothing and is fine.
	if _, stderr, err := d.LXC("config", "set", "cluster.https_address", "127.0.0.1:8444"); err == nil || !strings.Contains(stderr, "cluster.https_address") {
		t.Errorf("setting a server key that is not honoured: %v %q", err, stderr)
	}
	if st, env := d.API("PATCH", "/1.0", map[string]any{"config": map[string]string{"cluster.https_address": ""}}); st != 200 {
		t.Errorf("unsetting a server key: %d %q", st, env.Error)
	}
}

func TestLXCDailyBehaviour(t *testing.T) {
	d := withBusybox(t)
	name := uniq("daily")
	d.MustLXC("launch", "busybox", name)

	// lxc info --show-log reads lxc.log: the instance's runtime log.
	out := d.MustLXC("info", name, "--show-log")
	if !strings.Contains(out, "started") {
		t.Errorf("lxc info --show-log shows no runtime log:\n%s", out)
	}
	d.MustLXC("restart", "-f", name)
	if out := d.MustLXC("info", name, "--show-log"); !strings.Contains(out, "stopping") {
		t.Errorf("the runtime log lacks the stop:\n%s", out)
	}

	// snapshots.schedule: @startup snapshots at each start, @never and
	// ", "-separated lists are accepted.
	d.MustLXC("config", "set", name, "snapshots.schedule", "@startup, @daily")
	d.MustLXC("restart", "-f", name)
	if out := d.MustLXC("info", name); !strings.Contains(out, "snap0") {
		t.Errorf("no @startup snapshot after a start:\n%s", out)
	}
	d.MustLXC("config", "set", name, "snapshots.schedule", "@never")
	if _, stderr, err := d.LXC("config", "set", name, "snapshots.schedule", "@sometimes"); err == nil || !strings.Contains(stderr, "snapshots.schedule") {
		t.Errorf("a bad schedule: %v %q", err, stderr)
	}

	// Stopping an ephemeral instance deletes it, and logs no warning.
	eph := uniq("eph")
	d.MustLXC("launch", "busybox", eph, "--ephemeral")
	d.MustLXC("stop", eph)
	waitFor(t, "the ephemeral instance to go", 10*time.Second, func() bool {
		st, _ := d.API("GET", "/1.0/instances/"+eph, nil)
		return st == 404
	})
	time.Sleep(200 * time.Millisecond)
	if log, _ := os.ReadFile(filepath.Join(d.Dir, "lodged.log")); strings.Contains(string(log), "delete ephemeral instance") {
		t.Errorf("stopping an ephemeral instance logged a warning:\n%s", log)
	}

	// The host's own interfaces are unmanaged networks.
	// (lxc network list leaves loopback out, and so does lodge's; lxc
	// network show does not.)
	d.MustLXC("network", "list")
	if out := d.MustLodge("network", "list", "--format", "csv"); strings.HasPrefix(out, "lo,") || strings.Contains(out, "\nlo,") {
		t.Errorf("lodge network list shows lo:\n%s", out)
	}
	if out := d.MustLXC("network", "show", "lo"); !strings.Contains(out, "type: loopback") || !strings.Contains(out, "managed: false") {
		t.Errorf("lxc network show lo:\n%s", out)
	}
	st, env := d.API("GET", "/1.0/networks/lo", nil)
	if st != 200 || !strings.Contains(string(env.Metadata), `"type":"loopback"`) || !strings.Contains(string(env.Metadata), `"managed":false`) {
		t.Errorf("GET /1.0/networks/lo: %d %s", st, env.Metadata)
	}
	if st, _ := d.API("GET", "/1.0/networks/nosuchif0", nil); st != 404 {
		t.Errorf("GET of a network that is nothing: %d", st)
	}
}
