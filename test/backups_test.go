package test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lodge-project/lodge/api"
)

// tarEntries lists a (compressed) tarball's members with their owners.
func tarEntries(t *testing.T, file string) map[string]*tar.Header {
	t.Helper()
	tool := "gzip"
	if strings.HasSuffix(file, ".zst") {
		tool = "zstd"
	}
	data, err := exec.Command(tool, "-dc", file).Output()
	if err != nil {
		t.Fatalf("decompress %s: %v", file, err)
	}
	entries := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read %s: %v", file, err)
		}
		entries[strings.TrimSuffix(h.Name, "/")] = h
	}
	return entries
}

// TestBackups exports an instance with snapshots as lxc 5.0.2 does, checks
// the tarball is in LXD's layout with the instance's own ids, imports it
// under another name and onto another pool, and refuses hostile tarballs.
func TestBackups(t *testing.T) {
	d := withBusybox(t)
	c := uniq("bk")
	d.MustLXC("launch", "busybox", c)
	d.MustLXC("exec", c, "--", "sh", "-c", "echo one > /state")
	d.MustLXC("snapshot", c, "s0")
	d.MustLXC("exec", c, "--", "sh", "-c", "echo two > /state; ln /state /state-link")

	// lxc export of a running instance: a backup made, downloaded, deleted.
	file := filepath.Join(t.TempDir(), "c.tar.gz")
	d.MustLXC("export", c, file)
	entries := tarEntries(t, file)
	for _, want := range []string{"backup/index.yaml", "backup/container/backup.yaml", "backup/container/rootfs/state",
		"backup/snapshots/s0/rootfs/state"} {
		if entries[want] == nil {
			t.Fatalf("the backup lacks %s", want)
		}
	}
	if h := entries["backup/container/rootfs/bin/busybox"]; h == nil || h.Uid != 0 || h.Gid != 0 {
		t.Fatalf("busybox in the backup: %+v (want the instance's own root, 0:0)", h)
	}
	if h := entries["backup/container/rootfs/state-link"]; h == nil || h.Typeflag != tar.TypeLink {
		t.Fatalf("the hard link in the backup: %+v", h)
	}
	if out := d.MustLXC("query", "/1.0/instances/"+c+"/backups"); strings.Contains(out, "backups/") {
		t.Fatalf("lxc export left its backup: %s", out)
	}

	// lxc import under another name: the files, the snapshot, the ids.
	c2 := uniq("imported")
	d.MustLXC("import", file, c2)
	d.MustLXC("start", c2)
	if got := d.MustLXC("exec", c2, "--", "cat", "/state"); got != "two\n" {
		t.Fatalf("the imported instance: %q", got)
	}
	if out := d.MustLXC("exec", c2, "--", "stat", "-c", "%u %h", "/bin/busybox", "/state"); !strings.HasPrefix(out, "0 ") || !strings.Contains(out, "0 2") {
		t.Fatalf("owners and links inside the imported instance: %q", out)
	}
	d.MustLXC("restore", c2, "s0")
	if got := d.MustLXC("exec", c2, "--", "cat", "/state"); got != "one\n" {
		t.Fatalf("the imported snapshot: %q", got)
	}
	if _, stderr, err := d.LXC("import", file, c2); err == nil || !strings.Contains(stderr, "already exists") {
		t.Fatalf("an import over an existing instance: %v %q", err, stderr)
	}

	// Onto another pool, compressed another way, instance only, by the API.
	d.MustLXC("storage", "create", "bkpool", "dir")
	if st, env := d.API("POST", "/1.0/instances/"+c+"/backups", api.InstanceBackupsPost{Name: "nightly", InstanceOnly: true, CompressionAlgorithm: "zstd"}); st != 200 && st != 202 {
		t.Fatalf("create backup: %d %s", st, env.Error)
	}
	if st, env := d.API("POST", "/1.0/instances/"+c+"/backups/nightly", api.InstanceBackupPost{Name: "weekly"}); st != 200 && st != 202 {
		t.Fatalf("rename backup: %d %s", st, env.Error)
	}
	if out := d.MustLXC("info", c); !strings.Contains(out, "weekly") {
		t.Fatalf("lxc info lacks the backup:\n%s", out)
	}
	zst := filepath.Join(t.TempDir(), "c.tar.zst")
	resp, err := d.http.Get("http://lodge/1.0/instances/" + c + "/backups/weekly/export")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("export: %v %v", err, resp)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.HasPrefix(data, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
		t.Fatal("the zstd backup is not zstd")
	}
	_ = os.WriteFile(zst, data, 0o600)
	if e := tarEntries(t, zst); e["backup/snapshots/s0/rootfs/state"] != nil {
		t.Fatal("an instance-only backup holds snapshots")
	}
	c3 := uniq("onpool")
	d.MustLodge("import", zst, c3, "--storage", "bkpool")
	if _, err := os.Stat(filepath.Join(d.Dir, "storage-pools", "bkpool", "containers", c3, "rootfs", "state")); err != nil {
		t.Fatalf("the import on the other pool: %v", err)
	}
	if st, _ := d.API("DELETE", "/1.0/instances/"+c+"/backups/weekly", nil); st != 200 && st != 202 {
		t.Fatalf("delete backup: %d", st)
	}
	if left, _ := filepath.Glob(filepath.Join(d.Dir, "backups", "instances", c, "*")); len(left) != 0 {
		t.Fatalf("the deleted backup's tarball is left: %v", left)
	}

	// lodge export and import, as lxc's.
	viaLodge := filepath.Join(t.TempDir(), "c.tar.xz")
	d.MustLodge("export", c, viaLodge, "--compression", "xz")
	c4 := uniq("vialodge")
	d.MustLodge("import", viaLodge, c4)
	if snaps := d.MustLXC("query", "/1.0/instances/"+c4+"/snapshots"); !strings.Contains(snaps, "s0") {
		t.Fatalf("lodge import lost the snapshot: %s", snaps)
	}

	// Hostile tarballs are refused and leave nothing.
	for what, tb := range map[string][]byte{
		"an owner outside the map": hostileBackup(t, "[{\"Isuid\":true,\"Isgid\":false,\"Hostid\":1000000,\"Nsid\":0,\"Maprange\":65536},{\"Isuid\":false,\"Isgid\":true,\"Hostid\":1000000,\"Nsid\":0,\"Maprange\":65536}]", false),
		"a rootfs that is a link":  hostileBackup(t, "", true),
	} {
		name := uniq("hostile")
		req, _ := http.NewRequest("POST", "http://lodge/1.0/instances", bytes.NewReader(tb))
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("X-LXD-name", name)
		resp, err := d.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var env api.Response
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		_ = json.Unmarshal(body, &env)
		if env.Operation != "" {
			st, wenv := d.API("GET", env.Operation+"/wait?timeout=60", nil)
			var op api.Operation
			_ = json.Unmarshal(wenv.Metadata, &op)
			if st != 200 || op.Status != "Failure" {
				t.Fatalf("%s: the import did not fail: %d %+v", what, st, op)
			}
		} else if resp.StatusCode != 400 {
			t.Fatalf("%s: %d %s", what, resp.StatusCode, body)
		}
		if st, _ := d.API("GET", "/1.0/instances/"+name, nil); st != 404 {
			t.Fatalf("%s: the refused import left an instance (%d)", what, st)
		}
		if _, err := os.Stat(filepath.Join(d.Dir, "storage-pools", "default", "containers", name)); !os.IsNotExist(err) {
			t.Fatalf("%s: the refused import left a volume: %v", what, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(d.Dir, "backups", "import-*")); len(left) != 0 {
		t.Fatalf("imports left their uploads: %v", left)
	}
}

// hostileBackup is a gzipped backup tarball whose files are owned by host
// root under the given id map, or whose rootfs is a link to /.
func hostileBackup(t *testing.T, idmap string, rootfsLink bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	add := func(h *tar.Header, body string) {
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(body))
	}
	index := "name: hostile\nbackend: dir\npool: default\ntype: container\noptimized: false\nconfig:\n  container:\n    name: hostile\n    architecture: x86_64\n    profiles: [default]\n    config:\n      volatile.last_state.idmap: '" + idmap + "'\n    devices: {}\n"
	add(&tar.Header{Name: "backup/index.yaml", Mode: 0o644, Typeflag: tar.TypeReg}, index)
	add(&tar.Header{Name: "backup/container/", Mode: 0o755, Typeflag: tar.TypeDir}, "")
	if rootfsLink {
		add(&tar.Header{Name: "backup/container/rootfs", Linkname: "/", Typeflag: tar.TypeSymlink}, "")
	} else {
		add(&tar.Header{Name: "backup/container/rootfs/", Mode: 0o755, Uid: 1000000, Gid: 1000000, Typeflag: tar.TypeDir}, "")
		add(&tar.Header{Name: "backup/container/rootfs/suid", Mode: 0o4755, Uid: 0, Gid: 0, Typeflag: tar.TypeReg}, "#!/bin/sh\n")
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	_ = zw.Close()
	return buf.Bytes()
}

// TestBackupCrashes kills lodged while a backup is written and while one
// is imported: the restart leaves no tarball, upload, volume or record of
// either, and the instance backed up is whole. A truncated tarball is
// refused the same way.
func TestBackupCrashes(t *testing.T) {
	d := withBusybox(t)
	c := uniq("bkcrash")
	d.MustLodge("init", "busybox", c)
	d.MustLodge("snapshot", c, "s0")
	file := filepath.Join(t.TempDir(), "c.tar.gz")
	d.MustLodge("export", c, file)

	d.crashAt("backup.written", func() { _, _, _ = d.Lodge("export", c, filepath.Join(t.TempDir(), "never.tar.gz")) })
	if left, _ := filepath.Glob(filepath.Join(d.Dir, "backups", "instances", c, "*")); len(left) != 0 {
		t.Fatalf("a backup cut short left %v", left)
	}
	if out := d.MustLXC("query", "/1.0/instances/"+c+"/backups"); strings.Contains(out, "backup") {
		t.Fatalf("a backup cut short left a record: %s", out)
	}

	// A backup is written back after it is recorded. A daemon killed
	// first finishes that at its next start; a host that went down first
	// (another boot) may have cut the tarball short: it is removed.
	backups := func() string { return d.MustLXC("query", "/1.0/instances/"+c+"/backups") }
	d.Env = []string{"LODGE_BOOT_ID=boot-a"}
	post := func() { _, _, _ = d.LXC("query", "-X", "POST", "/1.0/instances/"+c+"/backups", "-d", `{"name": "b1"}`) }
	d.crashAt("backup.recorded", post)
	if out := backups(); !strings.Contains(out, "b1") {
		t.Fatalf("a backup recorded before a daemon crash is gone: %s", out)
	}
	// Once written back, it survives a host crash.
	waitFor(t, "the backup's writeback", 30*time.Second, func() bool {
		log, _ := os.ReadFile(filepath.Join(d.Dir, "lodged.log"))
		return strings.Contains(string(log), `msg="backup written back"`)
	})
	d.Kill()
	d.Env = []string{"LODGE_BOOT_ID=boot-c"}
	d.Start()
	if out := backups(); !strings.Contains(out, "b1") {
		t.Fatalf("a backup written back is gone after a host crash: %s", out)
	}
	if st, env := d.API("DELETE", "/1.0/instances/"+c+"/backups/b1", nil); st >= 300 {
		t.Fatalf("delete b1: %d %s", st, env.Error)
	}
	d.crashAtThen("backup.recorded", post, []string{"LODGE_BOOT_ID=boot-b"})
	if out := backups(); strings.Contains(out, "b1") {
		t.Fatalf("a backup not on disk when the host went down is still offered: %s", out)
	}
	if left, _ := filepath.Glob(filepath.Join(d.Dir, "backups", "instances", c, "*")); len(left) != 0 {
		t.Fatalf("a backup the host's crash cut short left %v", left)
	}
	if log, _ := os.ReadFile(filepath.Join(d.Dir, "lodged.log")); !strings.Contains(string(log), "before this backup was on disk") {
		t.Fatal("the removal is not logged")
	}
	d.Kill()
	d.Env = nil
	d.Start()

	name := uniq("bkcrash")
	d.crashAt("backup.imported", func() { _, _, _ = d.Lodge("import", file, name) })
	if st, _ := d.API("GET", "/1.0/instances/"+name, nil); st != 404 {
		t.Fatalf("an import cut short left an instance (%d)", st)
	}
	if _, err := os.Stat(filepath.Join(d.Dir, "storage-pools", "default", "containers", name)); !os.IsNotExist(err) {
		t.Fatalf("an import cut short left a volume: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(d.Dir, "backups", "import-*")); len(left) != 0 {
		t.Fatalf("an import cut short left its upload: %v", left)
	}
	assertConsistent(t, d)

	// A truncated tarball: refused, nothing left.
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.tar.gz")
	if err := os.WriteFile(cut, data[:len(data)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := d.Lodge("import", cut, name); err == nil || stderr == "" {
		t.Fatalf("a truncated backup: %v %q", err, stderr)
	}
	if _, err := os.Stat(filepath.Join(d.Dir, "storage-pools", "default", "containers", name)); !os.IsNotExist(err) {
		t.Fatalf("a truncated backup left a volume: %v", err)
	}
	// An upload the client cuts short: refused, and nothing is left.
	conn, err := net.Dial("unix", filepath.Join(d.Dir, "unix.socket"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /1.0/instances HTTP/1.1\r\nHost: lodge\r\nContent-Type: application/octet-stream\r\nX-LXD-name: %s\r\nContent-Length: %d\r\n\r\n", name, len(data))
	if _, err := conn.Write(data[:len(data)/2]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the index is read, the work begun
	conn.Close()
	waitFor(t, "the cut upload's import to end", 30*time.Second, func() bool {
		left, _ := filepath.Glob(filepath.Join(d.Dir, "backups", "import-*"))
		return len(left) == 0
	})
	if st, _ := d.API("GET", "/1.0/instances/"+name, nil); st != 404 {
		t.Fatalf("a cut upload left an instance (%d)", st)
	}
	if _, err := os.Stat(filepath.Join(d.Dir, "storage-pools", "default", "containers", name)); !os.IsNotExist(err) {
		t.Fatalf("a cut upload left a volume: %v", err)
	}
	assertConsistent(t, d)
	// The backed-up instance is whole: it imports and starts.
	d.MustLodge("import", file, name)
	d.MustLodge("start", name)
}

// TestIncrementalBackupsOfFiles: on a dir pool, lodge export --since
// writes the new snapshots and the volume's changed files, and lists what
// was deleted; importing the newest rebuilds the instance from the chain.
func TestIncrementalBackupsOfFiles(t *testing.T) {
	d := withBusybox(t)
	c := uniq("incf")
	d.MustLXC("launch", "busybox", c)
	d.MustLXC("exec", c, "--", "sh", "-c", "echo one > /state; echo bye > /gone; mkdir /d; echo x > /d/x; ln /state /state-link")
	d.MustLXC("snapshot", c, "s0")
	dir := t.TempDir()
	full, inc := filepath.Join(dir, "full.tar.gz"), filepath.Join(dir, "inc.tar.gz")
	d.MustLodge("export", c, full)
	d.MustLXC("exec", c, "--", "sh", "-c", "echo two > /state; rm /gone; rm -r /d; echo new > /new")
	d.MustLXC("snapshot", c, "s1")
	d.MustLodge("export", c, inc, "--since", full)

	entries := tarEntries(t, inc)
	for _, want := range []string{"backup/container/rootfs/state", "backup/container/rootfs/new", "backup/snapshots/s1/rootfs/state", "backup/container.deleted"} {
		if entries[want] == nil {
			t.Fatalf("the incremental backup lacks %s", want)
		}
	}
	for _, unwanted := range []string{"backup/container/rootfs/bin/busybox", "backup/snapshots/s0", "backup/container/rootfs/gone"} {
		if entries[unwanted] != nil {
			t.Fatalf("the incremental backup holds %s, which did not change", unwanted)
		}
	}

	c2 := uniq("incf")
	d.MustLodge("import", inc, c2)
	d.MustLXC("start", c2)
	got := d.MustLXC("exec", c2, "--", "sh", "-c", "cat /state /new; ls /gone /d 2>&1; stat -c %h /state")
	if !strings.HasPrefix(got, "two\nnew\n") || !strings.Contains(got, "/gone: No such file") || !strings.Contains(got, "/d: No such file") || !strings.HasSuffix(got, "2\n") {
		t.Fatalf("the instance from the chain:\n%s", got)
	}
	d.MustLXC("stop", "--force", c2)
	for snap, want := range map[string]string{"s0": "one\nbye\nx\n", "s1": "two\n"} {
		d.MustLXC("restore", c2, snap)
		d.MustLXC("start", c2)
		if got := d.MustLXC("exec", c2, "--", "sh", "-c", "cat /state /gone /d/x 2>/dev/null; true"); got != want {
			t.Fatalf("%s from the chain: %q, want %q", snap, got, want)
		}
		d.MustLXC("stop", "--force", c2)
	}
	// A newer export moved the base on: --since the first is refused.
	d.MustLodge("export", c, filepath.Join(dir, "later.tar.gz"))
	if _, stderr, err := d.Lodge("export", c, filepath.Join(dir, "stale.tar.gz"), "--since", full); err == nil || !strings.Contains(stderr, "not the last export") {
		t.Fatalf("an export since a stale base: %v %s", err, stderr)
	}
}
