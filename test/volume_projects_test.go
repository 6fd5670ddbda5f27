package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lodge-project/lodge/api"
)

// TestVolumesBetweenProjects copies and moves custom volumes between
// projects of one host with lxc 5.0.2 (--target-project), snapshots and
// files with them; a volume in use stays where it is.
func TestVolumesBetweenProjects(t *testing.T) {
	d := startDaemon(t)
	d.MustLXC("project", "create", "p2")
	d.MustLXC("project", "create", "p3")
	d.MustLXC("storage", "volume", "create", "default", "v1")
	vol := filepath.Join(d.Dir, "storage-pools/default/custom/v1")
	if err := os.WriteFile(filepath.Join(vol, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.MustLXC("storage", "volume", "snapshot", "default", "v1", "s0")
	has := func(proj, name string, snaps bool) {
		t.Helper()
		st, env := d.API("GET", "/1.0/storage-pools/default/volumes/custom/"+name+"/snapshots?project="+proj, nil)
		var list []string
		_ = json.Unmarshal(env.Metadata, &list)
		if st != 200 || (len(list) == 1) != snaps {
			t.Fatalf("volume %s in project %s: %d %v (snapshots wanted: %v)", name, proj, st, list, snaps)
		}
	}
	d.MustLXC("storage", "volume", "copy", "default/v1", "default/v1", "--target-project", "p2")
	has("p2", "v1", true)
	if data, err := os.ReadFile(filepath.Join(d.Dir, "storage-pools/default/custom/p2_v1/f")); err != nil || string(data) != "data" {
		t.Fatalf("the copy's file in p2: %q %v", data, err)
	}
	has("default", "v1", true)
	d.MustLXC("storage", "volume", "move", "default/v1", "default/v1", "--project", "p2", "--target-project", "p3")
	has("p3", "v1", true)
	if st, _ := d.API("GET", "/1.0/storage-pools/default/volumes/custom/v1?project=p2", nil); st != 404 {
		t.Fatalf("the volume moved out of p2 is still there: %d", st)
	}
	// Into a project that does not exist: refused, the volume stays.
	if _, stderr, err := d.LXC("storage", "volume", "move", "default/v1", "default/v1", "--project", "p3", "--target-project", "nope"); err == nil || !strings.Contains(stderr, "not found") {
		t.Fatalf("a move into a project that does not exist: %v %s", err, stderr)
	}
	has("p3", "v1", true)
	// A volume an instance uses is not moved (lxc 5.0.2 moves by a copy
	// and a delete; the API's move with a project is one request).
	d.MustLodge("--project", "p3", "image", "import", busyboxImage(t), "--alias", "bb")
	d.MustLXC("profile", "device", "add", "default", "root", "disk", "path=/", "pool=default", "--project", "p3")
	d.MustLXC("init", "bb", "c1", "--project", "p3")
	d.MustLXC("storage", "volume", "attach", "default", "v1", "c1", "/data", "--project", "p3")
	move := api.StorageVolumePost{Name: "v1", Pool: "default", Project: "p2"}
	if st, env := d.API("POST", "/1.0/storage-pools/default/volumes/custom/v1?project=p3", move); st < 400 || !strings.Contains(env.Error, "in use") {
		t.Fatalf("a move of a volume in use: %d %s", st, env.Error)
	}
	has("p3", "v1", true)
	if st, _ := d.API("GET", "/1.0/storage-pools/default/volumes/custom/v1?project=p2", nil); st != 404 {
		t.Fatalf("the refused move left a copy in p2: %d", st)
	}
	d.MustLXC("storage", "volume", "detach", "default", "v1", "c1", "--project", "p3")
	if st, env := d.API("POST", "/1.0/storage-pools/default/volumes/custom/v1?project=p3", move); st >= 400 {
		t.Fatalf("a move to p2: %d %s", st, env.Error)
	}
	has("p2", "v1", true)
	if st, _ := d.API("GET", "/1.0/storage-pools/default/volumes/custom/v1?project=p3", nil); st != 404 {
		t.Fatalf("the volume moved to p2 is still in p3: %d", st)
	}
	var v api.StorageVolume
	if _, env := d.API("GET", "/1.0/storage-pools/default/volumes/custom/v1?project=p2", nil); json.Unmarshal(env.Metadata, &v) != nil || v.Name != "v1" {
		t.Fatalf("the moved volume: %+v", v)
	}
}
