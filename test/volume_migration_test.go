package test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/migration"
)

// TestVolumesBetweenHosts copies custom volumes to another host with
// lxc 5.0.2 (pull, push, relay) and lodge (copy and move): dir pools by
// rsync, btrfs pools by their own streams, and btrfs to dir by rsync;
// each copy keeps the volume's files, owners and links, its snapshots
// (with their descriptions) unless --volume-only, and its config.
func TestVolumesBetweenHosts(t *testing.T) {
	a, b := twoHosts(t)
	a.MustLodge("image", "import", busyboxImage(t), "--alias", "bb")
	b.MustLodge("image", "import", busyboxImage(t), "--alias", "bb")
	lxc := a.client(t)
	must(t, lxc, "remote", "add", "b", "https://"+b.addr, "--password", "sesame", "--accept-certificate")
	for _, h := range []string{"local", "b"} {
		must(t, lxc, "storage", "create", h+":bt", "btrfs", "size=1GiB")
	}

	// A volume on a, filled from a container: a file of a user's, a link;
	// snapshotted, then changed.
	must(t, lxc, "launch", "local:bb", "local:c1")
	fill := func(pool, vol string) {
		t.Helper()
		must(t, lxc, "storage", "volume", "create", "local:"+pool, vol, "snapshots.expiry=3d")
		must(t, lxc, "storage", "volume", "attach", "local:"+pool, vol, "c1", "/data")
		must(t, lxc, "exec", "local:c1", "--", "sh", "-c", "echo old > /data/f && chown 1000:1000 /data/f && ln -s f /data/l")
		must(t, lxc, "storage", "volume", "snapshot", "local:"+pool, vol, "s0")
		must(t, lxc, "query", "-X", "PUT", "/1.0/storage-pools/"+pool+"/volumes/custom/"+vol+"/snapshots/s0", "-d", `{"description": "the first"}`)
		must(t, lxc, "exec", "local:c1", "--", "sh", "-c", "echo new > /data/f")
		must(t, lxc, "storage", "volume", "detach", "local:"+pool, vol, "c1")
	}
	fill("default", "v1")
	fill("bt", "w1")

	// check reads a copy on b through a container there: the file, its
	// owner, the link; then the snapshot's file, restored.
	must(t, lxc, "launch", "local:bb", "b:c2")
	check := func(pool, vol string, snaps bool) {
		t.Helper()
		var v api.StorageVolume
		_, env := b.API("GET", "/1.0/storage-pools/"+pool+"/volumes/custom/"+vol, nil)
		_ = json.Unmarshal(env.Metadata, &v)
		if v.Config["snapshots.expiry"] != "3d" {
			t.Errorf("%s/%s on b: config %v", pool, vol, v.Config)
		}
		must(t, lxc, "storage", "volume", "attach", "b:"+pool, vol, "c2", "/data")
		out := must(t, lxc, "exec", "b:c2", "--", "sh", "-c", "cat /data/f; stat -c %u:%g /data/f; readlink /data/l")
		if got := strings.Fields(out); len(got) != 3 || got[0] != "new" || got[1] != "1000:1000" || got[2] != "f" {
			t.Errorf("%s/%s on b: %q", pool, vol, out)
		}
		must(t, lxc, "storage", "volume", "detach", "b:"+pool, vol, "c2")
		_, env = b.API("GET", "/1.0/storage-pools/"+pool+"/volumes/custom/"+vol+"/snapshots", nil)
		if strings.Contains(string(env.Metadata), "s0") != snaps {
			t.Errorf("%s/%s on b: snapshots (want them: %v): %s", pool, vol, snaps, env.Metadata)
		}
		if snaps {
			var s api.StorageVolumeSnapshot
			_, env := b.API("GET", "/1.0/storage-pools/"+pool+"/volumes/custom/"+vol+"/snapshots/s0", nil)
			_ = json.Unmarshal(env.Metadata, &s)
			if s.Description != "the first" {
				t.Errorf("%s/%s/s0 on b: description %q", pool, vol, s.Description)
			}
			must(t, lxc, "storage", "volume", "restore", "b:"+pool, vol, "s0")
			must(t, lxc, "storage", "volume", "attach", "b:"+pool, vol, "c2", "/data")
			if out := must(t, lxc, "exec", "b:c2", "--", "cat", "/data/f"); strings.TrimSpace(out) != "old" {
				t.Errorf("%s/%s on b, restored to s0: %q", pool, vol, out)
			}
			must(t, lxc, "storage", "volume", "detach", "b:"+pool, vol, "c2")
		}
	}
	for _, mode := range []string{"pull", "push", "relay"} {
		must(t, lxc, "storage", "volume", "copy", "local:default/v1", "b:default/v-"+mode, "--mode", mode)
		check("default", "v-"+mode, true)
	}
	must(t, lxc, "storage", "volume", "copy", "local:default/v1", "b:default/only", "--volume-only")
	check("default", "only", false)
	must(t, lxc, "storage", "volume", "copy", "local:bt/w1", "b:bt/w1")
	check("bt", "w1", true)
	must(t, lxc, "storage", "volume", "copy", "local:bt/w1", "b:default/fromb")
	check("default", "fromb", true)
	// A name b has already is refused, and b's volume stays.
	if _, stderr, err := lxc("storage", "volume", "copy", "local:default/v1", "b:default/only"); err == nil || !strings.Contains(stderr, "already exists") {
		t.Fatalf("a copy onto a volume b has: %v %s", err, stderr)
	}
	check("default", "only", false)

	lodge, _ := a.lodgeClient(t)
	must(t, lodge, "remote", "add", "b", "https://"+b.addr, "--password", "sesame", "--accept-certificate")
	must(t, lodge, "storage", "volume", "copy", "bt/w1", "b:bt/lodge-push", "--mode", "push")
	check("bt", "lodge-push", true)
	must(t, lodge, "storage", "volume", "move", "default/v1", "b:default/moved")
	check("default", "moved", true)
	if st, _ := a.API("GET", "/1.0/storage-pools/default/volumes/custom/v1", nil); st != 404 {
		t.Fatalf("the moved volume is still on a: %d", st)
	}
}

// TestHostileVolumeSource has a source send a volume no Lodge or LXD
// would: a snapshot named to climb out of the pool, one snapshot sent
// twice, a device node. The first two are refused and leave no volume;
// the node is dropped and the rest arrives. (A volume's files keep the
// ids they have: they are the instances' own, and their idmapped mounts
// show one beyond an instance's map as nobody.)
func TestHostileVolumeSource(t *testing.T) {
	d := startDaemon(t)
	source := func(build func(dir string), snaps ...string) *migration.Source {
		dir := t.TempDir()
		build(dir)
		src := &migration.Source{Info: migration.Info{}}
		for _, s := range snaps {
			src.Snapshots = append(src.Snapshots, migration.Snapshot{Name: s, LocalConfig: map[string]string{}})
		}
		src.Tree = func(_ context.Context, _ string, send func(string) error) error { return send(dir) }
		return src
	}
	receive := func(name string, src *migration.Source) (int, api.Response) {
		opURL, cert, secrets := fakeSource(t, src)
		return d.API("POST", "/1.0/storage-pools/default/volumes/custom", api.StorageVolumesPost{Name: name, Type: "custom",
			Source: api.StorageVolumeSource{Type: "migration", Mode: "pull", Operation: opURL, Certificate: cert, Websockets: secrets}})
	}
	for _, c := range []struct {
		name, want string
		src        *migration.Source
	}{
		{"climb", "snapshot", source(func(string) {}, "../../escape")},
		{"twice", "twice", source(func(string) {}, "s0", "s0")},
	} {
		st, env := receive(c.name, c.src)
		if st < 400 || !strings.Contains(env.Error, c.want) {
			t.Errorf("%s: %d %q, want a refusal with %q", c.name, st, env.Error, c.want)
		}
		if st, _ := d.API("GET", "/1.0/storage-pools/default/volumes/custom/"+c.name, nil); st != 404 {
			t.Errorf("%s: the refused volume exists (%d)", c.name, st)
		}
		if _, err := os.Stat(filepath.Join(d.Dir, "storage-pools/default/custom", c.name)); !os.IsNotExist(err) {
			t.Errorf("%s: the refused volume's files are left: %v", c.name, err)
		}
	}
	st, env := receive("devnode", source(func(dir string) {
		_ = unix.Mknod(filepath.Join(dir, "disk"), unix.S_IFBLK|0o666, int(unix.Mkdev(8, 0)))
		_ = os.WriteFile(filepath.Join(dir, "ok"), []byte("fine"), 0o644)
	}))
	if st >= 400 {
		t.Fatalf("a volume with a device node: %d %s", st, env.Error)
	}
	root := filepath.Join(d.Dir, "storage-pools/default/custom/devnode")
	if _, err := os.Lstat(filepath.Join(root, "disk")); !os.IsNotExist(err) {
		t.Errorf("the device node arrived: %v", err)
	}
	if data, err := os.ReadFile(filepath.Join(root, "ok")); err != nil || string(data) != "fine" {
		t.Errorf("the volume's file: %q %v", data, err)
	}
	// A refresh from such a source (on a dir pool, its new tree is built
	// beside the old one): the device node stays out of the new tree too.
	refresh := source(func(dir string) {
		_ = unix.Mknod(filepath.Join(dir, "disk2"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3)))
		_ = os.WriteFile(filepath.Join(dir, "ok"), []byte("finer"), 0o644)
	})
	opURL, cert, secrets := fakeSource(t, refresh)
	st, env = d.API("POST", "/1.0/storage-pools/default/volumes/custom", api.StorageVolumesPost{Name: "devnode", Type: "custom",
		Source: api.StorageVolumeSource{Type: "migration", Mode: "pull", Operation: opURL, Certificate: cert, Websockets: secrets, Refresh: true}})
	if st >= 400 {
		t.Fatalf("a refresh with a device node: %d %s", st, env.Error)
	}
	if _, err := os.Lstat(filepath.Join(root, "disk2")); !os.IsNotExist(err) {
		t.Errorf("the refresh's device node arrived: %v", err)
	}
	if data, err := os.ReadFile(filepath.Join(root, "ok")); err != nil || string(data) != "finer" {
		t.Errorf("the refreshed volume's file: %q %v", data, err)
	}
}

// TestVolumeMigrationFaults kills either end of a custom volume's copy
// between hosts: a target that dies before its records has no half
// volume once started again; a target cut off by the source's death
// removes what it made; the source keeps its volume.
func TestVolumeMigrationFaults(t *testing.T) {
	a, b := twoHosts(t)
	lxc := a.client(t)
	must(t, lxc, "remote", "add", "b", "https://"+b.addr, "--password", "sesame", "--accept-certificate")
	must(t, lxc, "storage", "volume", "create", "local:default", "v1")
	if err := os.WriteFile(filepath.Join(a.Dir, "storage-pools/default/custom/v1/f"), []byte("source"), 0o644); err != nil {
		t.Fatal(err)
	}
	must(t, lxc, "storage", "volume", "snapshot", "local:default", "v1", "s0")
	nothingOnB := func(name string) {
		t.Helper()
		if st, _ := b.API("GET", "/1.0/storage-pools/default/volumes/custom/"+name, nil); st != 404 {
			t.Errorf("b has volume %s (%d)", name, st)
		}
		for _, dir := range []string{"custom", "custom-snapshots"} {
			if _, err := os.Stat(filepath.Join(b.Dir, "storage-pools/default", dir, name)); !os.IsNotExist(err) {
				t.Errorf("b's %s/%s is left: %v", dir, name, err)
			}
		}
	}
	b.crashAt("volume.migration.received", func() { _, _, _ = lxc("storage", "volume", "copy", "local:default/v1", "b:default/v1") })
	nothingOnB("v1")
	a.crashAt("volume.migration.sending", func() { _, _, _ = lxc("storage", "volume", "copy", "local:default/v1", "b:default/v2") })
	waitFor(t, "b to give up", 30*time.Second, func() bool {
		_, env := b.API("GET", "/1.0/operations?recursion=1", nil)
		return !strings.Contains(string(env.Metadata), `"status":"Running"`)
	})
	nothingOnB("v2")
	if data, err := os.ReadFile(filepath.Join(a.Dir, "storage-pools/default/custom/v1/f")); err != nil || string(data) != "source" {
		t.Errorf("the source's volume after it died mid-copy: %q %v", data, err)
	}
	must(t, lxc, "storage", "volume", "copy", "local:default/v1", "b:default/v3")
	if data, err := os.ReadFile(filepath.Join(b.Dir, "storage-pools/default/custom-snapshots/v3/s0/f")); err != nil || string(data) != "source" {
		t.Errorf("the copy after the faults: %q %v", data, err)
	}
}

// TestVolumeRefresh brings copies of a custom volume up to date with lxc
// storage volume copy --refresh, on this host and on another: the
// source's new snapshot comes, the one it dropped goes, the files follow.
// A refresh cut short by a crash (either kind) leaves the copy as it was.
func TestVolumeRefresh(t *testing.T) {
	a, b := twoHosts(t)
	lxc := a.client(t)
	must(t, lxc, "remote", "add", "b", "https://"+b.addr, "--password", "sesame", "--accept-certificate")
	must(t, lxc, "storage", "volume", "create", "local:default", "v1")
	src := filepath.Join(a.Dir, "storage-pools/default/custom/v1")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(src, "f"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("one")
	must(t, lxc, "storage", "volume", "snapshot", "local:default", "v1", "s0")
	write("two")
	must(t, lxc, "storage", "volume", "copy", "local:default/v1", "b:default/v1")
	must(t, lxc, "storage", "volume", "copy", "local:default/v1", "local:default/v1c")
	must(t, lxc, "storage", "create", "local:bt", "btrfs", "size=1GiB")
	must(t, lxc, "storage", "volume", "copy", "local:default/v1", "local:bt/v1b")
	// The source moves on: a new snapshot, s0 gone, new files.
	write("three")
	must(t, lxc, "storage", "volume", "snapshot", "local:default", "v1", "s1")
	must(t, lxc, "storage", "volume", "delete", "local:default", "v1/s0")
	if err := os.WriteFile(filepath.Join(src, "g"), []byte("new file"), 0o644); err != nil {
		t.Fatal(err)
	}
	write("four")
	check := func(h host, name, want string, snaps ...string) {
		t.Helper()
		dir := filepath.Join(h.Dir, "storage-pools/default/custom", name)
		if data, err := os.ReadFile(filepath.Join(dir, "f")); err != nil || string(data) != want {
			t.Errorf("%s's f: %q %v (want %q)", name, data, err, want)
		}
		_, env := h.API("GET", "/1.0/storage-pools/default/volumes/custom/"+name+"/snapshots", nil)
		var list []string
		_ = json.Unmarshal(env.Metadata, &list)
		var got []string
		for _, u := range list {
			got = append(got, filepath.Base(u))
		}
		if strings.Join(got, ",") != strings.Join(snaps, ",") {
			t.Errorf("%s's snapshots: %v (want %v)", name, got, snaps)
		}
		assertConsistent(t, h.Daemon)
	}
	// Cut short by a crash of the target, after the trees, before the
	// records: the copy is as it was (s0 went first, as LXD does).
	b.crashAt("volume.refresh.filled", func() {
		_, _, _ = lxc("storage", "volume", "copy", "local:default/v1", "b:default/v1", "--refresh")
	})
	check(b, "v1", "two")
	if _, err := os.Stat(filepath.Join(b.Dir, "storage-pools/default/custom/v1/g")); !os.IsNotExist(err) {
		t.Errorf("the refresh cut short left its new file: %v", err)
	}
	for _, mode := range []string{"pull", "push"} {
		must(t, lxc, "storage", "volume", "copy", "local:default/v1", "b:default/v1", "--refresh", "--mode", mode)
		check(b, "v1", "four", "s1")
	}
	if data, err := os.ReadFile(filepath.Join(b.Dir, "storage-pools/default/custom-snapshots/v1/s1/f")); err != nil || string(data) != "three" {
		t.Errorf("the refreshed copy's new snapshot: %q %v", data, err)
	}
	// A refresh that adds no snapshot makes the volume's tree anew
	// beside the old one, which stays as it was for the undo (rsync
	// links the files that did not change): crashed after the new tree
	// took the volume's place, the old one is back.
	write("five")
	if err := os.Chmod(filepath.Join(src, "g"), 0o600); err != nil {
		t.Fatal(err)
	}
	mode := func(h host, name string) os.FileMode {
		t.Helper()
		st, err := os.Lstat(filepath.Join(h.Dir, "storage-pools/default/custom", name))
		if err != nil {
			t.Fatal(err)
		}
		return st.Mode().Perm()
	}
	noWorkspace := func() {
		t.Helper()
		if left, _ := filepath.Glob(filepath.Join(b.Dir, "storage-pools/default/custom-rebuild/*")); len(left) > 0 {
			t.Errorf("a rebuild's workspace is left: %v", left)
		}
	}
	b.crashAt("volume.refresh.filled", func() {
		_, _, _ = lxc("storage", "volume", "copy", "local:default/v1", "b:default/v1", "--refresh")
	})
	check(b, "v1", "four", "s1")
	if m := mode(b, "v1/g"); m != 0o644 {
		t.Errorf("the undone refresh left g's mode at %o", m)
	}
	noWorkspace()
	for _, mode := range []string{"pull", "push"} {
		must(t, lxc, "storage", "volume", "copy", "local:default/v1", "b:default/v1", "--refresh", "--mode", mode)
		check(b, "v1", "five", "s1")
		noWorkspace()
	}
	if m := mode(b, "v1/g"); m != 0o600 {
		t.Errorf("the refreshed g's mode is %o, want 600", m)
	}
	if data, err := os.ReadFile(filepath.Join(b.Dir, "storage-pools/default/custom-snapshots/v1/s1/f")); err != nil || string(data) != "three" {
		t.Errorf("the snapshot after a rebuild: %q %v", data, err)
	}
	must(t, lxc, "storage", "volume", "copy", "local:default/v1", "local:default/v1c", "--refresh")
	check(a, "v1c", "five", "s1")
	if data, err := os.ReadFile(filepath.Join(a.Dir, "storage-pools/default/custom/v1c/g")); err != nil || string(data) != "new file" {
		t.Errorf("the refreshed local copy's new file: %q %v", data, err)
	}
	// Onto a btrfs pool's copy: snapshots and restores of the driver's own.
	must(t, lxc, "storage", "volume", "copy", "local:default/v1", "local:bt/v1b", "--refresh")
	if data, err := os.ReadFile(filepath.Join(a.Dir, "storage-pools/bt/custom-snapshots/v1b/s1/f")); err != nil || string(data) != "three" {
		t.Errorf("the refreshed btrfs copy's new snapshot: %q %v", data, err)
	}
	_, env := a.API("GET", "/1.0/storage-pools/bt/volumes/custom/v1b/snapshots", nil)
	if !strings.Contains(string(env.Metadata), "s1") || strings.Contains(string(env.Metadata), "s0") {
		t.Errorf("the refreshed btrfs copy's snapshots: %s", env.Metadata)
	}
}
