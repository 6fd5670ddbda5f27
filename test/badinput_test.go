package test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lodge-project/lodge/api"
)

// assertNothingLeft checks no instance record, volume or cgroup exists.
func assertNothingLeft(t *testing.T, d *Daemon, what string) {
	t.Helper()
	_, env := d.API("GET", "/1.0/instances", nil)
	var names []string
	_ = json.Unmarshal(env.Metadata, &names)
	if len(names) != 0 {
		t.Fatalf("%s: records left: %v", what, names)
	}
	vols, _ := os.ReadDir(filepath.Join(d.Dir, "storage-pools", "default", "containers"))
	if len(vols) != 0 {
		t.Fatalf("%s: volumes left: %v", what, vols)
	}
	if cg, _ := filepath.Glob("/sys/fs/cgroup/memory/lodge*/bad*"); len(cg) != 0 {
		t.Fatalf("%s: cgroups left: %v", what, cg)
	}
}

func TestBadInstanceInput(t *testing.T) {
	d := withBusybox(t)
	img := api.InstanceSource{Type: "image", Alias: "busybox"}
	cases := []struct {
		what   string
		req    api.InstancesPost
		status int
		msg    string
	}{
		{"path name", api.InstancesPost{Name: "../x", Source: img}, 400, "instance name"},
		{"long name", api.InstancesPost{Name: strings.Repeat("a", 64), Source: img}, 400, "63"},
		{"slash", api.InstancesPost{Name: "a/b", Source: img}, 400, "instance name"},
		{"unknown key", api.InstancesPost{Name: "bad1", Source: img, InstancePut: api.InstancePut{Config: map[string]string{"limits.nonsense": "1"}}}, 400, "unknown config key"},
		{"bad value", api.InstancesPost{Name: "bad2", Source: img, InstancePut: api.InstancePut{Config: map[string]string{"limits.memory": "lots"}}}, 400, "limits.memory"},
		{"bad bool", api.InstancesPost{Name: "bad3", Source: img, InstancePut: api.InstancePut{Config: map[string]string{"security.privileged": "maybe"}}}, 400, "boolean"},
		{"volatile", api.InstancesPost{Name: "bad4", Source: img, InstancePut: api.InstancePut{Config: map[string]string{"volatile.x": "1"}}}, 400, "read-only"},
		{"unknown image", api.InstancesPost{Name: "bad5", Source: api.InstanceSource{Type: "image", Alias: "nope"}}, 404, "nope"},
		{"unknown profile", api.InstancesPost{Name: "bad6", Source: img, InstancePut: api.InstancePut{Profiles: []string{"ghost"}}}, 400, "profile"},
		{"no root disk", api.InstancesPost{Name: "bad7", Source: img, InstancePut: api.InstancePut{Profiles: []string{}}}, 400, "root disk"},
	}
	for _, c := range cases {
		st, env := d.API("POST", "/1.0/instances", c.req)
		if st != c.status || env.Type != "error" || !strings.Contains(env.Error, c.msg) {
			t.Errorf("%s: status %d error %q; want %d with %q", c.what, st, env.Error, c.status, c.msg)
		}
		assertNothingLeft(t, d, c.what)
	}
	// The CLI says the same.
	if _, stderr, err := d.Lodge("launch", "busybox", "../x"); err == nil || !strings.Contains(stderr, "instance name") {
		t.Errorf("lodge launch with a bad name: %v %q", err, stderr)
	}
	if _, stderr, err := d.Lodge("launch", "busybox", "bad8", "-c", "limits.cpu=999"); err == nil || !strings.Contains(stderr, "limits.cpu") {
		t.Errorf("lodge launch with a bad limit: %v %q", err, stderr)
	}
	assertNothingLeft(t, d, "cli")

	// A duplicate is a conflict and leaves the first alone.
	d.MustLodge("init", "busybox", "dup")
	st, env := d.API("POST", "/1.0/instances", api.InstancesPost{Name: "dup", Source: img})
	if st != 409 || !strings.Contains(env.Error, "already exists") {
		t.Fatalf("duplicate: %d %q", st, env.Error)
	}
	d.MustLodge("start", "dup")

	// Unknown actions and oversized bodies.
	if st, env := d.API("PUT", "/1.0/instances/dup/state", api.InstanceStatePut{Action: "explode"}); st != 400 || !strings.Contains(env.Error, "unknown action") {
		t.Errorf("unknown action: %d %q", st, env.Error)
	}
	huge := []byte(`{"name":"` + strings.Repeat("x", 5<<20) + `"}`)
	if st, _ := d.API("POST", "/1.0/instances", huge); st != http.StatusRequestEntityTooLarge {
		t.Errorf("5 MiB body: status %d, want 413", st)
	}
	if st, _ := d.API("POST", "/1.0/instances", []byte("{not json")); st != 400 {
		t.Errorf("malformed JSON: status %d", st)
	}
}

func TestBadImageInput(t *testing.T) {
	d := startDaemon(t, "--max-image-size", "2000000")
	good, err := os.ReadFile(busyboxImage(t))
	if err != nil {
		t.Fatal(err)
	}
	upload := func(body []byte) (int, string) {
		st, env := d.API("POST", "/1.0/images", body)
		return st, env.Error
	}
	if st, msg := upload(bytes.Repeat([]byte("not a tarball "), 100)); st != 400 || !strings.Contains(msg, "malformed") {
		t.Errorf("garbage: %d %q", st, msg)
	}
	if st, msg := upload(good[:len(good)/2]); st != 400 || !strings.Contains(msg, "truncated") {
		t.Errorf("truncated: %d %q", st, msg)
	}
	if st, msg := upload(append(bytes.Repeat([]byte{0}, 2100000), good...)); st != 413 || !strings.Contains(msg, "limit") {
		t.Errorf("oversized: %d %q", st, msg)
	}
	// Nothing of the failed uploads remains.
	for _, dir := range []string{filepath.Join(d.Dir, "images"), filepath.Join(d.Dir, "storage-pools", "default", "images")} {
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Fatalf("%s holds %v after failed imports", dir, left)
		}
	}
	if st, msg := upload(good); st != 202 {
		t.Fatalf("good image refused: %d %q", st, msg)
	}
	if st, msg := upload(good); st != 409 {
		t.Errorf("second import of the same image: %d %q", st, msg)
	}
	for _, name := range []string{"a/b", "", "..", "x:y"} {
		st, env := d.API("POST", "/1.0/images/aliases", api.ImageAliasesPost{Name: name, Target: "0"})
		if st != 400 || !strings.Contains(env.Error, "alias") {
			t.Errorf("alias %q: %d %q", name, st, env.Error)
		}
	}
	if st, env := d.API("GET", "/1.0/images/zz", nil); st != 404 {
		t.Errorf("non-hex fingerprint: %d %q", st, env.Error)
	}
}
