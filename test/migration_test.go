package test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lodge-project/lodge/api"
)

// TestMigrationBetweenHosts drives two Lodge hosts with lxc 5.0.2: copies
// in pull, push and relay modes, with and without snapshots, of a stopped
// and (statelessly) of a running container, onto another id map; a move;
// and the refusals that leave the source as it was.
func TestMigrationBetweenHosts(t *testing.T) {
	a, b := twoHosts(t)
	a.MustLodge("image", "import", busyboxImage(t), "--alias", "bb")
	lxc := a.client(t)
	must(t, lxc, "remote", "add", "b", "https://"+b.addr, "--password", "sesame", "--accept-certificate")

	must(t, lxc, "launch", "bb", "c1")
	must(t, lxc, "exec", "c1", "--", "sh", "-c", "echo first > /root/mark && chown 1000:1000 /root/mark")
	must(t, lxc, "snapshot", "c1", "snap0")
	must(t, lxc, "exec", "c1", "--", "sh", "-c", "echo second > /root/mark")
	must(t, lxc, "stop", "c1", "--force")

	cat := func(remote, path string) string {
		t.Helper()
		return strings.TrimSpace(must(t, lxc, "exec", remote, "--", "cat", path))
	}

	// Pull (lxc's default): b connects to a's operation.
	must(t, lxc, "copy", "c1", "b:c1", "-c", "security.idmap.isolated=true")
	out := must(t, lxc, "info", "b:c1")
	if !strings.Contains(out, "snap0") {
		t.Fatalf("the copy has no snapshot snap0:\n%s", out)
	}
	must(t, lxc, "start", "b:c1")
	if got := cat("b:c1", "/root/mark"); got != "second" {
		t.Errorf("the copy's file says %q", got)
	}
	// Shifted onto b's isolated map: ids inside are as they were.
	if got := strings.TrimSpace(must(t, lxc, "exec", "b:c1", "--", "stat", "-c", "%u:%g", "/root/mark")); got != "1000:1000" {
		t.Errorf("the copy's file is owned by %s inside", got)
	}
	// Progress, in the finished operation as lxc shows it while it runs.
	for host, d := range map[string]*Daemon{"source": a.Daemon, "target": b.Daemon} {
		if _, env := d.API("GET", "/1.0/operations?recursion=1", nil); !strings.Contains(string(env.Metadata), `"fs_progress":"c1: `) {
			t.Errorf("the %s's operation shows no fs_progress: %s", host, env.Metadata)
		}
	}
	must(t, lxc, "restore", "b:c1", "snap0")
	if got := cat("b:c1", "/root/mark"); got != "first" {
		t.Errorf("the copy's snapshot holds %q", got)
	}

	// Push: a connects to b's operation; no snapshots.
	must(t, lxc, "copy", "c1", "b:c2", "--mode", "push", "--instance-only")
	if out := must(t, lxc, "info", "b:c2"); strings.Contains(out, "snap0") {
		t.Errorf("an --instance-only copy has snapshots:\n%s", out)
	}
	// Relay: lxc connects to both and pipes.
	must(t, lxc, "copy", "c1", "b:c3", "--mode", "relay")
	must(t, lxc, "start", "b:c3")
	if got := cat("b:c3", "/root/mark"); got != "second" {
		t.Errorf("the relayed copy's file says %q", got)
	}

	// A running source: statelessly, from a frozen consistent tree.
	must(t, lxc, "start", "c1")
	must(t, lxc, "exec", "c1", "--", "sh", "-c", "echo running > /root/mark")
	must(t, lxc, "copy", "c1", "b:c4", "--stateless")
	must(t, lxc, "start", "b:c4")
	if got := cat("b:c4", "/root/mark"); got != "running" {
		t.Errorf("the running source's copy says %q", got)
	}
	if st := must(t, lxc, "list", "c1", "-c", "s", "-f", "csv"); strings.TrimSpace(st) != "RUNNING" {
		t.Errorf("the source is %s after its copy", st)
	}
	// Stateful needs CRIU, which fails here: a 400 with criu's reason.
	_, stderr, err := lxc("copy", "c1", "b:c5")
	if err == nil || !strings.Contains(stderr, "criu check") {
		t.Errorf("a live copy: %v: %s", err, stderr)
	}
	if _, _, err := lxc("info", "b:c5"); err == nil {
		t.Error("a refused live copy left an instance on the target")
	}
	// So do a stateful stop and a stateful snapshot, which touch nothing.
	for _, args := range [][]string{{"stop", "c1", "--stateful"}, {"snapshot", "c1", "live", "--stateful"}} {
		_, stderr, err := lxc(args...)
		if err == nil || !strings.Contains(stderr, "criu check") {
			t.Errorf("lxc %s: %v: %s", strings.Join(args, " "), err, stderr)
		}
	}
	if out := must(t, lxc, "info", "c1"); !strings.Contains(out, "RUNNING") || strings.Contains(out, "live") {
		t.Errorf("refused stateful requests changed the instance:\n%s", out)
	}

	// A name taken on the target: refused, the source as it was.
	_, stderr, err = lxc("copy", "c1", "b:c1", "--stateless")
	if err == nil || !strings.Contains(stderr, "already exists") {
		t.Errorf("a copy onto an existing name: %v: %s", err, stderr)
	}
	must(t, lxc, "stop", "c1", "--force")

	// A refresh: the changed file and the new snapshot arrive; the
	// target's snapshot that the source does not have goes.
	must(t, lxc, "stop", "b:c1", "--force")
	must(t, lxc, "snapshot", "b:c1", "targetonly")
	must(t, lxc, "snapshot", "c1", "snap1")
	must(t, lxc, "copy", "c1", "b:c1", "--refresh")
	out = must(t, lxc, "info", "b:c1")
	if !strings.Contains(out, "snap0") || !strings.Contains(out, "snap1") || strings.Contains(out, "targetonly") {
		t.Errorf("the refreshed copy's snapshots:\n%s", out)
	}
	must(t, lxc, "start", "b:c1")
	if got := cat("b:c1", "/root/mark"); got != "running" {
		t.Errorf("the refreshed copy's file says %q", got)
	}
	if got := strings.TrimSpace(must(t, lxc, "exec", "b:c1", "--", "stat", "-c", "%u:%g", "/root/mark")); got != "1000:1000" {
		t.Errorf("the refreshed copy's file is owned by %s inside", got)
	}
	must(t, lxc, "stop", "b:c1", "--force")

	// A snapshot, copied there as an instance of its own: its files, no
	// snapshots; pulled (lxc's default) and pushed.
	for _, mode := range []string{"pull", "push"} {
		must(t, lxc, "copy", "c1/snap0", "b:fromsnap-"+mode, "--mode", mode)
		if out := must(t, lxc, "info", "b:fromsnap-"+mode); strings.Contains(out, "snap0") || strings.Contains(out, "snap1") {
			t.Errorf("a snapshot's copy (%s) has snapshots:\n%s", mode, out)
		}
		must(t, lxc, "start", "b:fromsnap-"+mode)
		if got := cat("b:fromsnap-"+mode, "/root/mark"); got != "first" {
			t.Errorf("a snapshot's copy (%s) says %q", mode, got)
		}
		must(t, lxc, "delete", "-f", "b:fromsnap-"+mode)
	}

	// A move: the target has it whole, then the source goes.
	must(t, lxc, "move", "c1", "b:moved")
	if _, _, err := lxc("info", "c1"); err == nil {
		t.Error("the moved instance is still on the source")
	}
	out = must(t, lxc, "info", "b:moved")
	if !strings.Contains(out, "snap0") {
		t.Errorf("the moved instance lost its snapshot:\n%s", out)
	}
	must(t, lxc, "start", "b:moved")
	if got := cat("b:moved", "/root/mark"); got != "running" {
		t.Errorf("the moved instance's file says %q", got)
	}
}

// TestMigrationWithLXD copies a stopped Debian container with a snapshot
// from Debian's LXD 5.0.2 to Lodge and from Lodge to LXD, each time with
// lxc copy (the target pulls), on dir pools, and checks the file, its
// owner and the snapshot at the other end; then a snapshot alone, each
// way, as an instance of its own. It runs in parallel with the
// other slow tests.
func TestMigrationWithLXD(t *testing.T) {
	t.Parallel()
	lxd, d, lxc := lxdAndLodge(t)
	img := debianImage(t)
	lxd.MustLXC("image", "import", img, "--alias", "debian")
	d.MustLodge("image", "import", img, "--alias", "debian")

	stateHistory(t, lxc, "lxd:", "")
	must(t, lxc, "copy", "lxd:c", "lodge:fromlxd")
	checkStateHistory(t, lxc, "lodge:fromlxd")

	stateHistory(t, lxc, "lodge:", "")
	must(t, lxc, "copy", "lodge:c", "lxd:fromlodge")
	checkStateHistory(t, lxc, "lxd:fromlodge")

	// A snapshot becomes an instance at the other end, both ways.
	for _, c := range [][2]string{{"lxd:c/s0", "lodge:snapfromlxd"}, {"lodge:c/s0", "lxd:snapfromlodge"}} {
		must(t, lxc, "copy", c[0], c[1])
		must(t, lxc, "start", c[1])
		if got := strings.TrimSpace(must(t, lxc, "exec", c[1], "--", "cat", "/root/state")); got != "one" {
			t.Errorf("%s, copied from %s, says %q", c[1], c[0], got)
		}
		must(t, lxc, "stop", "--force", c[1])
	}
}

// stateHistory makes container c on remote (on pool; "" for the default
// one) whose /root/state, owned 0:42, says "one" in snapshot s0 and
// "second" after. Of other sizes: LXD's rsync receiver tells files apart
// by size and time to the second, and the pushes fall within one.
func stateHistory(t *testing.T, lxc func(...string) (string, string, error), remote, pool string) {
	t.Helper()
	args := []string{"init", remote + "debian", remote + "c"}
	if pool != "" {
		args = append(args, "-s", pool)
	}
	must(t, lxc, args...)
	addHistory(t, lxc, remote+"c", "s0", "one", "second")
}

// addHistory writes /root/state (owned 0:42, mode 640) in instance
// target: then, snapshot snap, then now.
func addHistory(t *testing.T, lxc func(...string) (string, string, error), target, snap, then, now string) {
	t.Helper()
	state := filepath.Join(t.TempDir(), "state")
	for _, content := range []string{then, now} {
		if err := os.WriteFile(state, []byte(content+"\n"), 0o640); err != nil {
			t.Fatal(err)
		}
		must(t, lxc, "file", "push", state, target+"/root/state", "--uid", "0", "--gid", "42")
		if content == then {
			must(t, lxc, "snapshot", target, snap)
		}
	}
}

// checkStateHistory checks what stateHistory made, copied to target:
// the file, its owner and mode inside, and the snapshot.
func checkStateHistory(t *testing.T, lxc func(...string) (string, string, error), target string) {
	t.Helper()
	checkHistory(t, lxc, target, "s0", "one", "second")
}

// checkHistory checks what addHistory made, copied to target (stopped,
// and left so): the file says now, with its owner and mode inside, and
// then in snapshot snap (restored to see it).
func checkHistory(t *testing.T, lxc func(...string) (string, string, error), target, snap, then, now string) {
	t.Helper()
	if out := must(t, lxc, "info", target); !strings.Contains(out, snap) {
		t.Errorf("%s has no snapshot %s:\n%s", target, snap, out)
	}
	must(t, lxc, "start", target)
	if out := strings.TrimSpace(must(t, lxc, "exec", target, "--", "stat", "-c", "%u:%g %a", "/root/state")); out != "0:42 640" {
		t.Errorf("%s: /root/state is %s inside, want 0:42 640", target, out)
	}
	if got := strings.TrimSpace(must(t, lxc, "exec", target, "--", "cat", "/root/state")); got != now {
		t.Errorf("%s: /root/state says %q, want %q", target, got, now)
	}
	must(t, lxc, "restore", target, snap)
	if got := strings.TrimSpace(must(t, lxc, "exec", target, "--", "cat", "/root/state")); got != then {
		t.Errorf("%s: snapshot %s's /root/state says %q, want %q", target, snap, got, then)
	}
	must(t, lxc, "stop", "--force", target)
}

// TestMigrationWithLodge drives two hosts with lodge: copy in each mode,
// a move of a running instance (stateless: stopped, moved, started there),
// a refused live copy, and a copy within one remote still a local copy.
func TestMigrationWithLodge(t *testing.T) {
	a, b := twoHosts(t)
	a.MustLodge("image", "import", busyboxImage(t), "--alias", "bb")
	lodge, _ := a.lodgeClient(t)
	must(t, lodge, "remote", "add", "b", b.addr, "--password", "sesame", "--accept-certificate")
	must(t, lodge, "launch", "bb", "c1")
	must(t, lodge, "config", "device", "add", "c1", "eth0", "nic", "nictype=p2p")
	must(t, lodge, "exec", "c1", "--", "sh", "-c", "echo kept > /root/mark && ln /root/mark /root/linked")
	must(t, lodge, "snapshot", "c1", "s0")

	_, stderr, err := lodge("copy", "c1", "b:live")
	if err == nil || !strings.Contains(stderr, "criu check") {
		t.Errorf("a live copy of a running instance: %v: %s", err, stderr)
	}
	for _, mode := range []string{"pull", "push", "relay"} {
		must(t, lodge, "copy", "c1", "b:"+mode, "--stateless", "--mode", mode, "-c", "user.mode="+mode)
		if got := strings.TrimSpace(must(t, lodge, "config", "get", "b:"+mode, "user.mode")); got != mode {
			t.Errorf("%s copy: user.mode = %q", mode, got)
		}
		must(t, lodge, "start", "b:"+mode)
		if got := strings.TrimSpace(must(t, lodge, "exec", "b:"+mode, "--", "cat", "/root/mark")); got != "kept" {
			t.Errorf("%s copy: /root/mark says %q", mode, got)
		}
		// Between Lodge hosts hard links stay links.
		if got := strings.TrimSpace(must(t, lodge, "exec", "b:"+mode, "--", "stat", "-c", "%h", "/root/mark")); got != "2" {
			t.Errorf("%s copy: /root/mark has %s links", mode, got)
		}
	}
	// To another pool there; a pool that is not there is refused.
	b.MustLodge("storage", "create", "other", "dir")
	must(t, lodge, "copy", "c1", "b:onother", "--stateless", "-s", "other")
	var inst api.Instance
	_, env := b.API("GET", "/1.0/instances/onother", nil)
	if err := json.Unmarshal(env.Metadata, &inst); err != nil || inst.ExpandedDevices["root"]["pool"] != "other" {
		t.Errorf("the copy's root disk: %v (%v)", inst.ExpandedDevices["root"], err)
	}
	_, stderr, err = lodge("copy", "c1", "b:nopool", "--stateless", "-s", "missing")
	if err == nil || !strings.Contains(stderr, "missing") {
		t.Errorf("a copy to a pool that is not there: %v: %s", err, stderr)
	}
	if st, _ := b.API("GET", "/1.0/instances/nopool", nil); st != 404 {
		t.Errorf("a copy to a missing pool left an instance (%d)", st)
	}

	// A refresh with lodge: the stopped copy gets the change, and the
	// source's config.
	must(t, lodge, "stop", "b:pull", "--force")
	must(t, lodge, "exec", "c1", "--", "sh", "-c", "echo refreshed > /root/mark")
	must(t, lodge, "copy", "c1", "b:pull", "--refresh", "--stateless")
	must(t, lodge, "start", "b:pull")
	if got := strings.TrimSpace(must(t, lodge, "exec", "b:pull", "--", "cat", "/root/mark")); got != "refreshed" {
		t.Errorf("the refreshed copy says %q", got)
	}
	if got := strings.TrimSpace(must(t, lodge, "config", "get", "b:pull", "user.mode")); got != "" {
		t.Errorf("the refreshed copy kept its own user.mode %q", got)
	}

	// Into a project there, and a snapshot as an instance of its own.
	b.MustLodge("project", "create", "p1", "-c", "features.profiles=false")
	must(t, lodge, "copy", "c1/s0", "b:fromsnap", "--target-project", "p1")
	if out := must(t, lodge, "list", "b:", "--project", "p1", "--format", "csv"); !strings.Contains(out, "fromsnap,STOPPED") {
		t.Errorf("project p1 on b after the copy: %q", out)
	}
	if st, _ := b.API("GET", "/1.0/instances/fromsnap", nil); st != 404 {
		t.Errorf("the copy into p1 is in b's default project too (%d)", st)
	}
	must(t, lodge, "--project", "p1", "start", "b:fromsnap")
	if got := strings.TrimSpace(must(t, lodge, "--project", "p1", "exec", "b:fromsnap", "--", "cat", "/root/mark")); got != "kept" {
		t.Errorf("the snapshot's copy in p1 says %q", got)
	}
	must(t, lodge, "--project", "p1", "delete", "-f", "b:fromsnap")

	// An instance with raw.idmap: host 1000's files stay host 1000's
	// there, in the instance and in its snapshot.
	must(t, lodge, "launch", "bb", "raw", "-c", "raw.idmap=both 1000 1000")
	must(t, lodge, "exec", "raw", "--", "sh", "-c", "echo mine > /root/own && echo theirs > /root/mark && chown 1000:1000 /root/own && chown 1001:1001 /root/mark")
	must(t, lodge, "snapshot", "raw", "s0")
	must(t, lodge, "stop", "-f", "raw")
	must(t, lodge, "copy", "raw", "b:raw")
	for _, tree := range []string{"containers/raw/rootfs", "containers-snapshots/raw/s0/rootfs"} {
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(b.Dir, "storage-pools", "default", tree, "root", "own"), &st); err != nil || st.Uid != 1000 || st.Gid != 1000 {
			t.Errorf("%s/root/own on b's host: %d:%d %v, want host 1000's", tree, st.Uid, st.Gid, err)
		}
	}
	must(t, lodge, "start", "b:raw")
	for file, want := range map[string]string{"/root/own": "1000:1000", "/root/mark": "1001:1001"} {
		if got := strings.TrimSpace(must(t, lodge, "exec", "b:raw", "--", "stat", "-c", "%u:%g", file)); got != want {
			t.Errorf("the raw.idmap copy's %s is %s inside, want %s", file, got, want)
		}
	}
	must(t, lodge, "delete", "-f", "b:raw")
	must(t, lodge, "delete", "raw")

	// Within one remote: a local copy there.
	must(t, lodge, "copy", "b:pull", "b:again")
	if out := must(t, lodge, "list", "b:", "--format", "csv"); !strings.Contains(out, "again,") {
		t.Errorf("a copy within b: %s", out)
	}

	mac := strings.TrimSpace(must(t, lodge, "config", "get", "c1", "volatile.eth0.hwaddr"))
	if mac == "" {
		t.Fatal("c1 has no MAC address to keep")
	}
	must(t, lodge, "move", "c1", "b:", "--stateless")
	if _, _, err := lodge("info", "c1"); err == nil {
		t.Error("the moved instance is still here")
	}
	if out := must(t, lodge, "list", "b:c1", "--format", "csv"); !strings.Contains(out, "c1,RUNNING") {
		t.Errorf("the moved running instance is not running there: %s", out)
	}
	if got := strings.TrimSpace(must(t, lodge, "config", "get", "b:c1", "volatile.eth0.hwaddr")); got != mac {
		t.Errorf("the moved instance's MAC address: %q, was %q", got, mac)
	}
	if out := must(t, lodge, "info", "b:c1"); !strings.Contains(out, "s0") {
		t.Errorf("the moved instance lost its snapshot:\n%s", out)
	}
}

// TestMigrationBtrfs copies between btrfs pools of two Lodge hosts: the
// volume and its snapshot travel as btrfs send streams (the received
// target's log says so), onto the target's map; a dir pool target gets
// rsync's trees from the same source.
func TestMigrationBtrfs(t *testing.T) {
	a, b := twoHosts(t)
	a.MustLodge("image", "import", busyboxImage(t), "--alias", "bb")
	for _, h := range []host{a, b} {
		h.MustLodge("storage", "create", "bt", "btrfs", "size=2GiB")
	}
	lodge, _ := a.lodgeClient(t)
	must(t, lodge, "remote", "add", "b", b.addr, "--password", "sesame", "--accept-certificate")
	// says checks what a command inside b:c1 prints.
	says := func(want, what string, args ...string) {
		t.Helper()
		if got := strings.TrimSpace(must(t, lodge, append([]string{"exec", "b:c1", "--"}, args...)...)); got != want {
			t.Errorf("%s: %q, want %q", what, got, want)
		}
	}
	must(t, lodge, "launch", "bb", "c1", "-s", "bt")
	must(t, lodge, "exec", "c1", "--", "sh", "-c", "echo first > /root/mark && chown 7:7 /root/mark")
	must(t, lodge, "snapshot", "c1", "s0")
	must(t, lodge, "exec", "c1", "--", "sh", "-c", "echo second > /root/mark")

	// Running: the stream is a snapshot of the moment, no freeze needed.
	must(t, lodge, "copy", "c1", "b:c1", "--stateless", "-s", "bt", "-c", "security.idmap.isolated=true")
	if log, _ := os.ReadFile(filepath.Join(b.Dir, "lodged.log")); !strings.Contains(string(log), `instance=c1 transfer="btrfs streams" snapshots=1`) {
		t.Errorf("the copy between btrfs pools did not go as btrfs streams:\n%s", log)
	}
	must(t, lodge, "start", "b:c1")
	says("7:7", "the copy's file", "stat", "-c", "%u:%g", "/root/mark")
	says("second", "the copy's file", "cat", "/root/mark")
	must(t, lodge, "stop", "b:c1", "--force")
	must(t, lodge, "restore", "b:c1", "s0")
	must(t, lodge, "start", "b:c1")
	says("first", "the copy's snapshot", "cat", "/root/mark")

	// A refresh between btrfs pools comes as the changes since the
	// snapshot the copy kept as received (s0): streams, on the copy's own
	// map; the new snapshot follows.
	refreshed := func(since string) {
		t.Helper()
		must(t, lodge, "copy", "c1", "b:c1", "--refresh", "--stateless")
		if log, _ := os.ReadFile(filepath.Join(b.Dir, "lodged.log")); !strings.Contains(string(log), `instance=c1 transfer="btrfs streams since `+since+`"`) {
			t.Errorf("the refresh did not go as btrfs streams since %s", since)
		}
	}
	must(t, lodge, "stop", "b:c1", "--force")
	must(t, lodge, "exec", "c1", "--", "sh", "-c", "echo third > /root/mark")
	must(t, lodge, "snapshot", "c1", "s1")
	must(t, lodge, "exec", "c1", "--", "sh", "-c", "echo fourth > /root/mark && chown 8:8 /root/mark")
	refreshed("s0")
	must(t, lodge, "start", "b:c1")
	says("8:8 /root/mark", "the refreshed copy's file", "stat", "-c", "%u:%g %n", "/root/mark")
	says("fourth", "the refreshed copy's file", "cat", "/root/mark")
	must(t, lodge, "stop", "b:c1", "--force")
	must(t, lodge, "restore", "b:c1", "s1")
	must(t, lodge, "start", "b:c1")
	says("third", "the snapshot the refresh brought", "cat", "/root/mark")
	// Only the volume changed since: streams since s1.
	must(t, lodge, "stop", "b:c1", "--force")
	must(t, lodge, "exec", "c1", "--", "sh", "-c", "echo fifth > /root/mark")
	refreshed("s1")
	must(t, lodge, "start", "b:c1")
	says("fifth", "the copy refreshed again", "cat", "/root/mark")
	// The source dies mid-refresh, before the volume's stream: the copy,
	// cut off, stays as it was, and the next refresh brings it all.
	must(t, lodge, "stop", "b:c1", "--force")
	must(t, lodge, "exec", "c1", "--", "sh", "-c", "echo sixth > /root/mark")
	must(t, lodge, "snapshot", "c1", "s2")
	a.crashAt("migration.streaming", func() { _, _, _ = lodge("copy", "c1", "b:c1", "--refresh", "--stateless") })
	waitFor(t, "the target to give up", 30*time.Second, func() bool {
		_, env := b.API("GET", "/1.0/operations?recursion=1", nil)
		return !strings.Contains(string(env.Metadata), `"status":"Running"`)
	})
	assertConsistent(t, b.Daemon)
	if out := must(t, lodge, "info", "b:c1"); strings.Contains(out, "s2") {
		t.Errorf("a refresh cut short left its snapshot:\n%s", out)
	}
	must(t, lodge, "start", "b:c1")
	says("fifth", "the copy after a refresh cut short", "cat", "/root/mark")
	must(t, lodge, "stop", "b:c1", "--force")
	refreshed("s1")
	must(t, lodge, "start", "b:c1")
	says("sixth", "the copy refreshed after the cut", "cat", "/root/mark")

	// A root disk too small for what is sent: refused, nothing left there.
	must(t, lodge, "exec", "c1", "--", "dd", "if=/dev/urandom", "of=/root/big", "bs=1M", "count=8")
	lxc := a.client(t)
	must(t, lxc, "remote", "add", "b", "https://"+b.addr, "--password", "sesame", "--accept-certificate")
	_, stderr, err := lxc("copy", "c1", "b:small", "--stateless", "-s", "bt", "-d", "root,size=4MiB")
	if err == nil || !strings.Contains(stderr, "size") {
		t.Errorf("a copy onto a root disk too small: %v: %s", err, stderr)
	}
	if st, _ := b.API("GET", "/1.0/instances/small", nil); st != 404 {
		t.Errorf("a copy too big for its root disk left an instance (%d)", st)
	}
	assertConsistent(t, b.Daemon)
	must(t, lodge, "exec", "c1", "--", "rm", "/root/big")

	// To a dir pool: rsync.
	must(t, lodge, "copy", "c1", "b:c2", "--stateless", "-s", "default")
	if log, _ := os.ReadFile(filepath.Join(b.Dir, "lodged.log")); !strings.Contains(string(log), `instance=c2 transfer=rsync`) {
		t.Errorf("the copy to a dir pool did not go by rsync")
	}
	must(t, lodge, "start", "b:c2")
	if got := strings.TrimSpace(must(t, lodge, "exec", "b:c2", "--", "cat", "/root/mark")); got != "sixth" {
		t.Errorf("the dir copy's file says %q", got)
	}
}

// TestMigrationBtrfsWithLXD copies between btrfs pools of Debian's LXD
// 5.0.2 and Lodge in LXD's own BTRFS transfer (a header of subvolumes,
// then a btrfs send stream each), both ways, a container with a snapshot,
// and checks the file, its owner and the snapshot at the other end; then
// from btrfs onto dir pools, where each side answers with rsync; then a
// refresh that brings a new snapshot, both ways, by subvolume uuids.
func TestMigrationBtrfsWithLXD(t *testing.T) {
	t.Parallel()
	lxd, d, lxc := lxdAndLodge(t)
	img := debianImage(t)
	lxd.MustLXC("image", "import", img, "--alias", "debian")
	d.MustLodge("image", "import", img, "--alias", "debian")
	lxd.MustLXC("storage", "create", "bt", "btrfs", "size=4GiB")
	d.MustLodge("storage", "create", "bt", "btrfs", "size=4GiB")
	for _, remote := range []string{"lxd:", "lodge:"} {
		stateHistory(t, lxc, remote, "bt")
	}
	must(t, lxc, "copy", "lxd:c", "lodge:fromlxd", "-s", "bt")
	if log, _ := os.ReadFile(filepath.Join(d.Dir, "lodged.log")); !strings.Contains(string(log), `instance=fromlxd transfer="LXD's BTRFS streams" snapshots=1`) {
		t.Errorf("the copy from LXD's btrfs pool did not come in LXD's BTRFS transfer")
	}
	checkStateHistory(t, lxc, "lodge:fromlxd")
	must(t, lxc, "copy", "lodge:c", "lxd:fromlodge", "-s", "bt")
	// LXD's receiver marks what it received from streams with their
	// uuids; rsync's copies have none.
	snap := filepath.Join(lxd.dir, "storage-pools", "bt", "containers-snapshots", "fromlodge", "s0")
	if out, err := exec.Command("btrfs", "subvolume", "show", snap).CombinedOutput(); err != nil || !regexp.MustCompile(`Received UUID:\s+[0-9a-f-]{36}`).Match(out) {
		t.Errorf("LXD's copy of the snapshot was not received from a stream: %v\n%s", err, out)
	}
	checkStateHistory(t, lxc, "lxd:fromlodge")
	// Onto dir pools, each side answers the BTRFS offer with rsync.
	must(t, lxc, "copy", "lxd:c", "lodge:todir", "-s", "default")
	checkStateHistory(t, lxc, "lodge:todir")
	must(t, lxc, "copy", "lodge:c", "lxd:todir", "-s", "default")
	checkStateHistory(t, lxc, "lxd:todir")

	// A refresh that brings a snapshot goes in LXD's BTRFS transfer too,
	// by subvolume uuids, both ways: the new snapshot against s0, the
	// volume against it.
	for _, remote := range []string{"lxd:", "lodge:"} {
		addHistory(t, lxc, remote+"c", "s1", "third", "fourth")
	}
	must(t, lxc, "copy", "lxd:c", "lodge:fromlxd", "--refresh")
	if log, _ := os.ReadFile(filepath.Join(d.Dir, "lodged.log")); !strings.Contains(string(log), `instance=fromlxd transfer="LXD's BTRFS streams since s0" snapshots=1`) {
		t.Errorf("the refresh from LXD's btrfs pool did not come in LXD's BTRFS transfer since s0")
	}
	checkHistory(t, lxc, "lodge:fromlxd", "s1", "third", "fourth")
	must(t, lxc, "copy", "lodge:c", "lxd:fromlodge", "--refresh")
	snap = filepath.Join(lxd.dir, "storage-pools", "bt", "containers-snapshots", "fromlodge", "s1")
	if out, err := exec.Command("btrfs", "subvolume", "show", snap).CombinedOutput(); err != nil || !regexp.MustCompile(`Received UUID:\s+[0-9a-f-]{36}`).Match(out) {
		t.Errorf("LXD's refresh did not receive the new snapshot from a stream: %v\n%s", err, out)
	}
	checkHistory(t, lxc, "lxd:fromlodge", "s1", "third", "fourth")
}
