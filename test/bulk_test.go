package test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/lodge-project/lodge/api"
)

// TestBulkStateChange: lxc's --all actions go through PUT /1.0/instances
// (instance_bulk_state_change): one operation for all of a project's
// instances the action applies to, and none of another project's.
func TestBulkStateChange(t *testing.T) {
	d := withBusybox(t)
	for _, c := range []string{"b1", "b2"} {
		d.MustLXC("init", "busybox", c)
	}
	d.MustLXC("project", "create", "other", "-c", "features.images=false", "-c", "features.profiles=false")
	d.MustLXC("init", "busybox", "o1", "--project", "other")
	status := func(name string, proj string) string {
		t.Helper()
		var st api.InstanceState
		out := d.MustLXC("query", "/1.0/instances/"+name+"/state?project="+proj)
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatal(err)
		}
		return st.Status
	}
	expect := func(want string, names ...string) {
		t.Helper()
		for _, n := range names {
			if got := status(n, "default"); got != want {
				t.Errorf("%s is %s, want %s", n, got, want)
			}
		}
	}
	d.MustLXC("start", "--all")
	expect("Running", "b1", "b2")
	if got := status("o1", "other"); got != "Stopped" {
		t.Errorf("another project's instance is %s after start --all", got)
	}
	d.MustLXC("pause", "--all")
	expect("Frozen", "b1", "b2")
	d.MustLXC("start", "--all") // nothing to start: a frozen instance runs
	expect("Frozen", "b1", "b2")
	// unfreeze is for the frozen ones only; stop then takes all.
	if st, env := d.API("PUT", "/1.0/instances", api.InstancesPut{State: &api.InstanceStatePut{Action: "unfreeze", Timeout: -1}}); st != 202 {
		t.Fatalf("bulk unfreeze: %d %s", st, env.Error)
	}
	expect("Running", "b1", "b2")
	// stop takes a frozen instance too, as LXD's does.
	d.MustLXC("pause", "b2")
	d.MustLXC("stop", "--all", "--force")
	expect("Stopped", "b1", "b2")
	d.MustLXC("start", "--all", "--project", "other")
	if got := status("o1", "other"); got != "Running" {
		t.Errorf("start --all in project other: o1 is %s", got)
	}
	expect("Stopped", "b1", "b2")

	// lodge's own --all: the same request.
	if _, stderr, err := d.Lodge("stop", "--all", "o1", "--project", "other"); err == nil || !strings.Contains(stderr, "name no instance") {
		t.Errorf("stop --all with a name: %v %q", err, stderr)
	}
	d.MustLodge("pause", "--all", "--project", "other")
	if got := status("o1", "other"); got != "Frozen" {
		t.Errorf("lodge pause --all: o1 is %s", got)
	}
	d.MustLodge("resume", "--all", "--project", "other")
	if got := status("o1", "other"); got != "Running" {
		t.Errorf("lodge resume --all: o1 is %s", got)
	}

	// Bad requests: refused before anything changes.
	for body, want := range map[string]string{
		`{"state": {"action": "explode"}}`: "unknown action",
		`{}`:                               "no state",
		`{"state": {"action": "stop", "stateful": true}}`: "stateful",
	} {
		_, stderr, err := d.LXC("query", "-X", "PUT", "/1.0/instances?project=other", "-d", body)
		if err == nil || !strings.Contains(stderr, want) {
			t.Errorf("PUT %s: %v %q, want a refusal with %q", body, err, stderr, want)
		}
	}
	if got := status("o1", "other"); got != "Running" {
		t.Errorf("a refused bulk change touched o1: %s", got)
	}
}
