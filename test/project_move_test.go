package test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lodge-project/lodge/api"
)

// TestInstanceProjectMove moves instances between projects of one host
// in one request (instance_project_move), as lxc 5.0.2 and lodge ask for
// it: snapshots along unless --instance-only, a new name, and refusals
// that leave the instance where it was.
func TestInstanceProjectMove(t *testing.T) {
	d := withBusybox(t)
	d.MustLXC("project", "create", "mp", "-c", "features.images=false", "-c", "features.profiles=false")
	d.MustLXC("init", "busybox", "mv1")
	d.MustLXC("snapshot", "mv1", "s0")
	if _, stderr, err := run(d.lxcEnv(), "kept\n", "lxc", "file", "push", "-", "mv1/root/mark"); err != nil {
		t.Fatalf("push: %v %s", err, stderr)
	}

	d.MustLXC("move", "mv1", "--target-project", "mp")
	log, _ := os.ReadFile(filepath.Join(d.Dir, "lodged.log"))
	if !strings.Contains(string(log), "method=POST url=/1.0/instances/mv1 ") {
		t.Fatalf("lxc did not ask for the move in one request:\n%s", log)
	}
	if out := d.MustLXC("list", "--format", "csv", "-c", "n"); strings.Contains(out, "mv1") {
		t.Fatalf("the source is still in the default project: %q", out)
	}
	if out := d.MustLXC("info", "mv1", "--project", "mp"); !strings.Contains(out, "s0") {
		t.Fatalf("the snapshot did not come along:\n%s", out)
	}
	if out := d.MustLXC("file", "pull", "mv1/root/mark", "-", "--project", "mp"); out != "kept\n" {
		t.Fatalf("the moved files: %q", out)
	}

	// Back, under a new name and without the snapshots, by lodge.
	d.MustLodge("--project", "mp", "move", "mv1", "mv2", "--target-project", "default", "--instance-only")
	if out := d.MustLXC("info", "mv2"); strings.Contains(out, "s0") {
		t.Fatalf("--instance-only brought the snapshot:\n%s", out)
	}
	if out := d.MustLXC("list", "--project", "mp", "--format", "csv", "-c", "n"); strings.Contains(out, "mv") {
		t.Fatalf("mp after the move back: %q", out)
	}

	// Refusals: the instance stays, and nothing is left in the target.
	d.MustLXC("init", "busybox", "mv2", "--project", "mp") // the name is taken there
	d.MustLXC("init", "busybox", "mv3")
	d.MustLXC("config", "set", "mv3", "security.protection.delete=true")
	d.MustLXC("start", "mv2")
	for _, c := range []struct {
		name string
		body api.InstancePost
		code int
		want string
	}{
		{"mv2", api.InstancePost{Name: "mv2", Migration: true, Project: "mp"}, http.StatusBadRequest, "running"},
		{"mv3", api.InstancePost{Name: "mv3", Migration: true, Project: "mp"}, http.StatusBadRequest, "protected"},
		{"mv3", api.InstancePost{Name: "mv3", Migration: true, Project: "default"}, http.StatusBadRequest, "already"},
		{"mv3", api.InstancePost{Name: "mv3", Migration: true, Project: "nosuch"}, http.StatusNotFound, "nosuch"},
		{"mv2", api.InstancePost{Name: "mv2", Migration: true, Project: "mp", Live: true}, http.StatusBadRequest, "live move"},
	} {
		code, env := d.API("POST", "/1.0/instances/"+c.name, c.body)
		if code != c.code || !strings.Contains(env.Error, c.want) {
			t.Errorf("move %s %+v: %d %q, want %d with %q", c.name, c.body, code, env.Error, c.code, c.want)
		}
	}
	d.MustLXC("stop", "-f", "mv2")
	d.MustLXC("config", "unset", "mv3", "security.protection.delete")
	if code, env := d.API("POST", "/1.0/instances/mv2", api.InstancePost{Name: "mv2", Migration: true, Project: "mp"}); code != http.StatusConflict {
		t.Fatalf("a move onto a taken name: %d %q", code, env.Error)
	}
	if out := d.MustLXC("list", "--format", "csv", "-c", "n"); !strings.Contains(out, "mv2") || !strings.Contains(out, "mv3") {
		t.Fatalf("refused moves lost an instance: %q", out)
	}
}
