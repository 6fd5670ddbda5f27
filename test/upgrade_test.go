package test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lodge-project/lodge/api"
)

// previousReleases are the releases whose state directories an upgrade
// starts from: the last one before the store kept a schema version, and
// the last one before storage pools became records (schema version 1).
var previousReleases = []struct{ name, commit string }{
	{"Unversioned", "1b84149dd5e643f17554e22c345823c7e5c9b0de"},
	{"SchemaV1", "153c0c5819b7b72650dc7e9e67a30ca06399d3b5"},
}

// previousLodged builds lodged as previousRelease had it (once; cached in
// test/.cache), from the repository's own history.
func previousLodged(t *testing.T, previousRelease string) string {
	t.Helper()
	bin := filepath.Join(cacheDir, "lodged-"+previousRelease[:12])
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	src := t.TempDir()
	if out, err := exec.Command("bash", "-c", `set -o pipefail; git -C "$1" archive "$2" | tar -x -C "$3"`, "bash", repoRoot, previousRelease, src).CombinedOutput(); err != nil {
		t.Fatalf("git archive %s (the upgrade test needs the repository's history): %v %s", previousRelease, err, out)
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-tags", "seccomp osusergo netgo", "-ldflags", `-extldflags "-static"`, "-o", bin+".partial", "./cmd/lodged")
	build.Dir = src
	build.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false", "CGO_ENABLED=1", "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the previous release's lodged: %v %s", err, out)
	}
	if err := os.Rename(bin+".partial", bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestUpgradeFromPreviousRelease: a state directory written by each
// previous release, with a running container on a managed network,
// an image and a snapshot, is taken over by this lodged: the database is
// migrated, and all of it is still there and works.
func TestUpgradeFromPreviousRelease(t *testing.T) {
	for _, rel := range previousReleases {
		t.Run(rel.name, func(t *testing.T) { testUpgradeFrom(t, rel.commit) })
	}
}

func testUpgradeFrom(t *testing.T, commit string) {
	d := startDaemonWith(t, &Daemon{t: t, Netns: newNetns(t, "upg"), Bin: previousLodged(t, commit)})
	d.MustLodge("image", "import", busyboxImage(t), "--alias", "busybox")
	br := uniq("up")
	d.MustLodge("network", "create", br, "ipv4.address=10.65.0.1/24", "ipv6.address=none")
	name := uniq("old")
	launchOnNetwork(t, d, "busybox", name, br, "ipv4.address=10.65.0.50")
	d.MustLodge("exec", name, "--", "sh", "-c", "echo before > /root/v")
	d.MustLodge("snapshot", name, "s1")
	d.MustLodge("exec", name, "--", "sh", "-c", "echo after > /root/v")
	pid := statePid(t, d, name)

	d.Stop()
	d.Bin = ""
	d.Start()

	log, _ := os.ReadFile(filepath.Join(d.Dir, "lodged.log"))
	if !strings.Contains(string(log), "database migrated") {
		t.Fatalf("no migration logged:\n%s", log)
	}
	if got := statePid(t, d, name); got != pid {
		t.Fatalf("the running container was not kept across the upgrade: pid %d, was %d", got, pid)
	}
	// The pool its volume was always on is a record now, used by it.
	if out := d.MustLodge("storage", "show", "default"); !strings.Contains(out, "/1.0/instances/"+name) || !strings.Contains(out, "driver: dir") {
		t.Fatalf("the default pool after the upgrade:\n%s", out)
	}
	if out := d.MustLodge("exec", name, "--", "cat", "/root/v"); out != "after\n" {
		t.Fatalf("exec after the upgrade: %q", out)
	}
	if ip := ipv4Of(t, d, name); ip != "10.65.0.50" {
		t.Fatalf("the instance's address after the upgrade: %q", ip)
	}
	_, env := d.API("GET", "/1.0/networks/"+br, nil)
	var n api.Network
	_ = json.Unmarshal(env.Metadata, &n)
	if !n.Managed || len(n.UsedBy) != 1 {
		t.Fatalf("the network after the upgrade: %+v", n)
	}
	if out := d.MustLodge("image", "list"); !strings.Contains(out, "busybox") {
		t.Fatalf("the image after the upgrade:\n%s", out)
	}
	// The snapshot restores (through the intents the migration made room for).
	d.MustLodge("restore", name, "s1")
	if out := d.MustLodge("exec", name, "--", "cat", "/root/v"); out != "before\n" {
		t.Fatalf("restore after the upgrade: %q", out)
	}
	d.MustLodge("restart", "-f", name)
	d.MustLodge("exec", name, "--", "true")
	// And a second start of this lodged migrates nothing more.
	log, _ = os.ReadFile(filepath.Join(d.Dir, "lodged.log"))
	migrated := strings.Count(string(log), "database migrated")
	d.Stop()
	d.Start()
	log, _ = os.ReadFile(filepath.Join(d.Dir, "lodged.log"))
	if strings.Count(string(log), "database migrated") != migrated {
		t.Fatalf("migrations ran again at the next start")
	}
}
