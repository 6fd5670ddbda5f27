package test

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// crashAt restarts lodged with a crash point armed (internal/crashpoint),
// runs op until lodged stops there, kills lodged (SIGKILL, as a crash), and
// starts it again unarmed: what start-up makes of the state is what a
// crash at that point leaves.
func (d *Daemon) crashAt(point string, op func()) {
	d.t.Helper()
	d.crashAtThen(point, op, d.Env)
}

// crashAtThen is crashAt, the restart with env as lodged's own (a host
// crash's restart: another LODGE_BOOT_ID).
func (d *Daemon) crashAtThen(point string, op func(), env []string) {
	d.t.Helper()
	reached := func() int {
		log, _ := os.ReadFile(filepath.Join(d.Dir, "lodged.log"))
		return strings.Count(string(log), "crashpoint "+point+" reached")
	}
	before := reached() // the log goes on across restarts
	d.Kill()
	d.Env = append(append([]string{}, d.Env...), "LODGE_CRASHPOINT="+point)
	d.Start()
	go op()
	waitFor(d.t, "lodged to reach crash point "+point, 30*time.Second, func() bool { return reached() > before })
	d.Kill()
	d.Env = env
	d.Start()
}

// assertConsistent checks the state directory holds exactly what the
// records say: a volume for every instance and none without one, no
// half-made volume, link, log or upload, and an image volume and file only
// for recorded images.
func assertConsistent(t *testing.T, d *Daemon) {
	t.Helper()
	_, env := d.API("GET", "/1.0/instances", nil)
	var urls []string
	_ = json.Unmarshal(env.Metadata, &urls)
	known := map[string]bool{}
	for _, u := range urls {
		known[strings.TrimPrefix(u, "/1.0/instances/")] = true
	}
	// Every pool's instance volumes have records, and every instance has
	// its volume on one pool.
	pools, _ := os.ReadDir(filepath.Join(d.Dir, "storage-pools"))
	for _, p := range pools {
		vols, _ := os.ReadDir(filepath.Join(d.Dir, "storage-pools", p.Name(), "containers"))
		for _, v := range vols {
			if !known[v.Name()] {
				t.Errorf("volume %s on pool %s has no record", v.Name(), p.Name())
			}
		}
	}
	for n := range known {
		found := false
		for _, p := range pools {
			if _, err := os.Stat(filepath.Join(d.Dir, "storage-pools", p.Name(), "containers", n, "rootfs")); err == nil {
				found = true
			}
		}
		if !found {
			t.Errorf("instance %s has no rootfs on any pool", n)
		}
	}
	for _, sub := range []string{"containers", "logs", "devices"} {
		entries, _ := os.ReadDir(filepath.Join(d.Dir, sub))
		for _, e := range entries {
			if !known[e.Name()] {
				t.Errorf("%s/%s is left of an instance with no record", sub, e.Name())
			}
		}
	}
	_, env = d.API("GET", "/1.0/images", nil)
	var imgs []string
	_ = json.Unmarshal(env.Metadata, &imgs)
	images := map[string]bool{}
	for _, u := range imgs {
		images[strings.TrimPrefix(u, "/1.0/images/")] = true
	}
	files, _ := os.ReadDir(filepath.Join(d.Dir, "images"))
	for _, f := range files {
		// A copy's writeback mark (.unsynced-<fp>) is there only beside
		// its image.
		if !images[strings.TrimPrefix(strings.TrimSuffix(f.Name(), ".rootfs"), ".unsynced-")] {
			t.Errorf("images/%s is left of an import with no record", f.Name())
		}
	}
	unpacked, _ := os.ReadDir(filepath.Join(d.Dir, "storage-pools", "default", "images"))
	for _, f := range unpacked {
		name := strings.TrimSuffix(strings.TrimSuffix(f.Name(), ".retired"), ".unsynced")
		if !images[name] {
			t.Errorf("image volume %s has no record", f.Name())
		}
		// A writeback's marker is there only beside its volume.
		if name != f.Name() && strings.HasSuffix(f.Name(), ".unsynced") {
			if _, err := os.Stat(filepath.Join(d.Dir, "storage-pools", "default", "images", name)); err != nil {
				t.Errorf("image volume %s has a writeback marker and no volume", name)
			}
		}
	}
}

func TestCrashAtEachStep(t *testing.T) {
	d := withBusybox(t)
	name := uniq("crash")
	d.MustLodge("init", "busybox", name, "-c", "user.when=before")
	write := func(content string) {
		t.Helper()
		if st, body := d.raw("POST", filesPath(name, "/root/v"), nil, []byte(content)); st != 200 {
			t.Fatalf("push: %d %s", st, body)
		}
	}
	read := func(n string) string {
		t.Helper()
		out, stderr, err := d.Lodge("file", "pull", n+"/root/v", "-")
		if err != nil {
			t.Fatalf("pull from %s: %v %s", n, err, stderr)
		}
		return out
	}
	write("v1")
	d.MustLodge("snapshot", name, "s1")
	write("v2")
	d.MustLodge("config", "set", name, "user.when=after")

	// A rename killed after the volume moved and before the records did:
	// the instance is back under its old name, files and snapshot too.
	d.crashAt("rename.volume-moved", func() { _, _, _ = d.Lodge("move", name, name+"x") })
	assertConsistent(t, d)
	if got := read(name); got != "v2" {
		t.Fatalf("after a crash in a rename: %q", got)
	}
	if st, _ := d.API("GET", "/1.0/instances/"+name+"/snapshots/s1", nil); st != 200 {
		t.Fatalf("the snapshot is gone after a crash in a rename: %d", st)
	}
	d.MustLodge("move", name, name+"x")
	d.MustLodge("move", name+"x", name)

	// A restore killed with its copy made but nothing committed: as before.
	d.crashAt("restore.prepared", func() { _, _, _ = d.Lodge("restore", name, "s1") })
	assertConsistent(t, d)
	if got, when := read(name), strings.TrimSpace(d.MustLodge("config", "get", name, "user.when")); got != "v2" || when != "after" {
		t.Fatalf("after a crash before a restore's commit: files %q, config %q (want v2, after)", got, when)
	}
	// Killed once the records say restored: start-up swaps the files in.
	d.crashAt("restore.committed", func() { _, _, _ = d.Lodge("restore", name, "s1") })
	assertConsistent(t, d)
	if got, when := read(name), strings.TrimSpace(d.MustLodge("config", "get", name, "user.when")); got != "v1" || when != "before" {
		t.Fatalf("after a crash after a restore's commit: files %q, config %q (want v1, before)", got, when)
	}

	// A start killed before init ran: the name is not poisoned.
	d.crashAt("start.created", func() { _, _, _ = d.Lodge("start", name) })
	assertConsistent(t, d)
	d.MustLodge("start", name)
	if out := d.MustLodge("exec", name, "--", "cat", "/root/v"); out != "v1" {
		t.Fatalf("after a crash in a start: %q", out)
	}
	d.MustLodge("stop", "-f", name)

	// A delete killed with its records gone and its files not yet: start-up
	// removes the files, the link and the logs, and the name is free.
	d.crashAt("delete.records-gone", func() { _, _, _ = d.Lodge("delete", name) })
	assertConsistent(t, d)
	d.MustLodge("launch", "busybox", name)
	d.MustLodge("delete", "-f", name)

	// An import killed with the image unpacked and not recorded.
	img := busyboxImage(t)
	variant := filepath.Join(t.TempDir(), "variant.tar.gz")
	writeVariant(t, img, variant, "crash")
	d.crashAt("import.unpacked", func() { _, _, _ = d.Lodge("image", "import", variant) })
	assertConsistent(t, d)
	if _, stderr, err := d.Lodge("image", "import", variant, "--alias", "variant"); err != nil {
		t.Fatalf("the image after a crash in its import: %v %s", err, stderr)
	}
	assertConsistent(t, d)
}

// writeVariant writes the gzipped tarball src again under another gzip
// header name: the same image with another fingerprint.
func writeVariant(t *testing.T, src, dst, label string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	zw := gzip.NewWriter(out)
	zw.Name = label
	if _, err := io.Copy(zw, zr); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestProfileChangesDoNotInterleave: a profile change that cannot apply to
// a running instance is rolled back, and another change of the profile
// made while it is under way (held there with a pause point) waits for it
// rather than land in between and be rolled back with it.
func TestProfileChangesDoNotInterleave(t *testing.T) {
	d := withBusybox(t)
	name := uniq("rb")
	d.MustLodge("launch", "busybox", name)
	pauseFile := filepath.Join(t.TempDir(), "hold")
	if err := os.WriteFile(pauseFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	d.Kill()
	d.Env = []string{"LODGE_PAUSEPOINT=profile.committed", "LODGE_PAUSEFILE=" + pauseFile}
	d.Start()
	defer func() { d.Env = nil }()
	failed := make(chan string, 1)
	go func() {
		// A disk whose source is not there: committed, then refused by
		// the running instance, then rolled back.
		_, stderr, _ := d.Lodge("profile", "device", "add", "default", "gone", "disk", "source=/nonexistent/dir", "path=/mnt/gone")
		failed <- stderr
	}()
	waitFor(t, "the profile change to pause after its commit", 10*time.Second, func() bool {
		log, _ := os.ReadFile(filepath.Join(d.Dir, "lodged.log"))
		return strings.Contains(string(log), "pausepoint profile.committed reached")
	})
	// Another change meanwhile: it waits for the first to end.
	patched := make(chan int, 1)
	go func() {
		st, _ := d.raw("PATCH", "/1.0/profiles/default", nil, []byte(`{"description":"changed meanwhile"}`))
		patched <- st
	}()
	select {
	case st := <-patched:
		t.Fatalf("a change of the profile landed in the middle of another (%d)", st)
	case <-time.After(300 * time.Millisecond):
	}
	os.Remove(pauseFile)
	if stderr := <-failed; !strings.Contains(stderr, "gone") {
		t.Fatalf("the bad profile change did not fail as it should: %q", stderr)
	}
	if st := <-patched; st != 200 {
		t.Fatalf("the waiting PATCH: %d", st)
	}
	_, env := d.API("GET", "/1.0/profiles/default", nil)
	if !strings.Contains(string(env.Metadata), "changed meanwhile") || strings.Contains(string(env.Metadata), "nonexistent") {
		t.Fatalf("the profile after both changes: %s", env.Metadata)
	}
}
