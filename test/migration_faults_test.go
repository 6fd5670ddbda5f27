package test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/migration"
)

// TestMigrationFaults kills either daemon during a transfer: the source
// keeps its instance as it was, and the target has no half instance once
// it has started again.
func TestMigrationFaults(t *testing.T) {
	a, b := twoHosts(t)
	a.MustLodge("image", "import", busyboxImage(t), "--alias", "bb")
	lxc := a.client(t)
	must(t, lxc, "remote", "add", "b", "https://"+b.addr, "--password", "sesame", "--accept-certificate")
	must(t, lxc, "launch", "bb", "c1")
	must(t, lxc, "exec", "c1", "--", "sh", "-c", "echo source > /root/mark")
	must(t, lxc, "snapshot", "c1", "s0")

	// The target dies once it has every tree, before its records.
	b.crashAt("migration.received", func() { _, _, _ = lxc("copy", "c1", "b:c1", "--stateless") })
	if _, _, err := lxc("info", "b:c1"); err == nil {
		t.Error("the target has the instance it was receiving when it died")
	}
	assertConsistent(t, b.Daemon)
	if got := strings.TrimSpace(must(t, lxc, "exec", "c1", "--", "cat", "/root/mark")); got != "source" {
		t.Errorf("the source's file after the target died: %q", got)
	}

	// The source dies after sending the snapshot, before the volume: the
	// target, cut off, removes what it made.
	a.crashAt("migration.sending", func() { _, _, _ = lxc("copy", "c1", "b:c2", "--stateless") })
	waitFor(t, "the target to give up", 30*time.Second, func() bool {
		_, env := b.API("GET", "/1.0/operations?recursion=1", nil)
		return !strings.Contains(string(env.Metadata), `"status":"Running"`)
	})
	if _, _, err := lxc("info", "b:c2"); err == nil {
		t.Error("the target kept a half instance after the source died")
	}
	assertConsistent(t, b.Daemon)
	assertConsistent(t, a.Daemon)
	// Running instances outlive lodged.
	if got := strings.TrimSpace(must(t, lxc, "exec", "c1", "--", "cat", "/root/mark")); got != "source" {
		t.Errorf("the source's file after it died mid-copy: %q", got)
	}
	if out := must(t, lxc, "info", "c1"); !strings.Contains(out, "s0") {
		t.Errorf("the source lost its snapshot:\n%s", out)
	}
	// And the copy still works.
	must(t, lxc, "copy", "c1", "b:c3", "--stateless")

	// A refresh by rsync is all or nothing, whichever end dies: the copy
	// stays as it was, without the snapshot the refresh brought.
	must(t, lxc, "exec", "c1", "--", "sh", "-c", "echo newer > /root/mark && echo extra > /root/extra")
	must(t, lxc, "snapshot", "c1", "s1")
	must(t, lxc, "exec", "c1", "--", "sh", "-c", "echo newest > /root/mark")
	asBefore := func(when string) {
		t.Helper()
		assertConsistent(t, b.Daemon)
		if out := must(t, lxc, "info", "b:c3"); strings.Contains(out, "s1") || !strings.Contains(out, "s0") {
			t.Errorf("%s, the copy's snapshots are not as before:\n%s", when, out)
		}
		if got := strings.TrimSpace(must(t, lxc, "file", "pull", "b:c3/root/mark", "-")); got != "source" {
			t.Errorf("%s, the copy's file says %q", when, got)
		}
		if _, _, err := lxc("file", "pull", "b:c3/root/extra", "-"); err == nil {
			t.Errorf("%s, the copy has a file of the refresh", when)
		}
	}
	// The source dies after the new snapshot, before the volume.
	a.crashAt("migration.sending", func() { _, _, _ = lxc("copy", "c1", "b:c3", "--refresh", "--stateless") })
	waitFor(t, "the target to give up", 30*time.Second, func() bool {
		_, env := b.API("GET", "/1.0/operations?recursion=1", nil)
		return !strings.Contains(string(env.Metadata), `"status":"Running"`)
	})
	asBefore("after the source died mid-refresh")
	// The target dies once it has every tree, before its records.
	b.crashAt("migration.received", func() { _, _, _ = lxc("copy", "c1", "b:c3", "--refresh", "--stateless") })
	if log, _ := os.ReadFile(filepath.Join(b.Dir, "lodged.log")); !strings.Contains(string(log), "put back a copy whose refresh did not finish") {
		t.Error("the target's start-up did not undo the refresh cut short")
	}
	asBefore("after the target died mid-refresh")
	// Then a whole refresh brings it all, though the target dies once its
	// records are in, before it removes the snapshot taken before: the
	// next start removes that one (it has no record) and keeps the rest.
	b.crashAt("migration.refreshed", func() { _, _, _ = lxc("copy", "c1", "b:c3", "--refresh", "--stateless") })
	snaps := filepath.Join(b.Dir, "storage-pools", "default", "containers-snapshots", "c3")
	if _, err := os.Lstat(filepath.Join(snaps, "s1")); err != nil {
		t.Errorf("the refresh's snapshot is not on disk: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(snaps, ".lodge-refresh-undo")); err == nil {
		t.Error("the snapshot taken before a refresh outlived the target's restart")
	}
	if log, _ := os.ReadFile(filepath.Join(b.Dir, "lodged.log")); !strings.Contains(string(log), "snapshot=.lodge-refresh-undo") {
		t.Error("the target's start-up did not remove the snapshot taken before the refresh")
	}
	if got := strings.TrimSpace(must(t, lxc, "file", "pull", "b:c3/root/mark", "-")); got != "newest" {
		t.Errorf("the refreshed copy's file says %q", got)
	}
	if out := must(t, lxc, "info", "b:c3"); !strings.Contains(out, "s1") {
		t.Errorf("the refresh did not bring the new snapshot:\n%s", out)
	}
	assertConsistent(t, b.Daemon)
}

// fakeSource is a hostile migration source: an HTTPS server whose one
// operation sends the trees a test makes, as Lodge's own source would.
func fakeSource(t *testing.T, src *migration.Source) (opURL, certPEM string, secrets map[string]string) {
	t.Helper()
	up := websocket.Upgrader{}
	secrets = map[string]string{"control": "c0ntrol", "fs": "f5"}
	conns := make(chan *websocket.Conn, 2)
	byName := map[string]*websocket.Conn{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/1.0/operations/fake/websocket" {
			http.NotFound(w, r)
			return
		}
		s := r.URL.Query().Get("secret")
		if s != secrets["control"] && s != secrets["fs"] {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		if s == secrets["control"] {
			byName["control"] = c
		} else {
			byName["fs"] = c
		}
		conns <- c
	}))
	t.Cleanup(srv.Close)
	go func() {
		<-conns
		<-conns
		_ = migration.RunSource(context.Background(), migration.NewConn(byName["control"]), migration.NewConn(byName["fs"]), src)
	}()
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return srv.URL + "/1.0/operations/fake", string(cert), secrets
}

// TestHostileMigrationSource has a source send what no Lodge or LXD
// would: a rootfs that is a link to the host's root, files owned by ids
// outside the map it announces, device nodes, a snapshot named to climb
// out of the pool. Each is refused (or, a device node, dropped), and
// nothing is left of the instance.
func TestHostileMigrationSource(t *testing.T) {
	d := startDaemon(t)
	d.MustLodge("image", "import", busyboxImage(t), "--alias", "bb")
	hostMap := []migration.IDMapEntry{{IsUID: true, HostID: 1000000, MapRange: 65536}, {IsGID: true, HostID: 1000000, MapRange: 65536}}
	tree := func(t *testing.T, build func(dir string)) string {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "rootfs", "root"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"rootfs", "rootfs/root"} {
			_ = os.Lchown(filepath.Join(dir, p), 1000000, 1000000)
		}
		build(dir)
		return dir
	}
	source := func(dir string, snaps ...string) *migration.Source {
		src := &migration.Source{IDMap: hostMap, Info: migration.Info{}}
		for _, s := range snaps {
			src.Snapshots = append(src.Snapshots, migration.Snapshot{Name: s, LocalConfig: map[string]string{}, Architecture: 2})
		}
		src.Tree = func(_ context.Context, _ string, send func(string) error) error { return send(dir) }
		return src
	}
	receive := func(t *testing.T, name string, src *migration.Source) (int, api.Response) {
		opURL, cert, secrets := fakeSource(t, src)
		return d.API("POST", "/1.0/instances", api.InstancesPost{Name: name, Type: "container",
			Source: api.InstanceSource{Type: "migration", Mode: "pull", Operation: opURL, Certificate: cert, Websockets: secrets}})
	}
	for _, c := range []struct {
		name, want string
		src        *migration.Source
	}{
		{"rootlink", "rootfs", source(tree(t, func(dir string) {
			_ = os.RemoveAll(filepath.Join(dir, "rootfs"))
			_ = os.Symlink("/", filepath.Join(dir, "rootfs"))
		}))},
		{"hostroot", "outside the instance's id map", source(tree(t, func(dir string) {
			_ = os.WriteFile(filepath.Join(dir, "rootfs/root/shadow"), []byte("x"), 0o4755)
			_ = os.Chown(filepath.Join(dir, "rootfs/root/shadow"), 0, 0) // host root, not the map's
		}))},
		{"climb", "snapshot", source(tree(t, func(string) {}), "../../escape")},
	} {
		st, env := receive(t, c.name, c.src)
		if st < 400 || !strings.Contains(env.Error, c.want) {
			t.Errorf("%s: %d %q, want a refusal with %q", c.name, st, env.Error, c.want)
		}
		if st, _ := d.API("GET", "/1.0/instances/"+c.name, nil); st != 404 {
			t.Errorf("%s: the refused instance exists (%d)", c.name, st)
		}
	}
	// A device node is dropped; the rest arrives, shifted onto Lodge's map.
	st, env := receive(t, "devnode", source(tree(t, func(dir string) {
		_ = unix.Mknod(filepath.Join(dir, "rootfs/root/disk"), unix.S_IFBLK|0o666, int(unix.Mkdev(8, 0)))
		_ = os.WriteFile(filepath.Join(dir, "rootfs/root/ok"), []byte("fine"), 0o644)
		_ = os.Chown(filepath.Join(dir, "rootfs/root/ok"), 1000042, 1000042)
	})))
	if st >= 400 {
		t.Fatalf("a tree with a device node: %d %s", st, env.Error)
	}
	root := filepath.Join(d.Dir, "storage-pools/default/containers/devnode/rootfs/root")
	if _, err := os.Lstat(filepath.Join(root, "disk")); !os.IsNotExist(err) {
		t.Errorf("the device node arrived: %v", err)
	}
	var sb unix.Stat_t
	if err := unix.Stat(filepath.Join(root, "ok"), &sb); err != nil {
		t.Fatal(err)
	}
	var inst api.Instance
	_, env = d.API("GET", "/1.0/instances/devnode", nil)
	_ = json.Unmarshal(env.Metadata, &inst)
	if base, _ := strconv.Atoi(inst.Config["volatile.idmap.base"]); base == 0 || int(sb.Uid)-42 != base {
		t.Errorf("the file's owner %d is not id 42 on the instance's map (%s)", sb.Uid, inst.Config["volatile.idmap.base"])
	}
	assertConsistent(t, d)
}
