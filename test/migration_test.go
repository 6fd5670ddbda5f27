package test

import (
	"strings"
	"testing"
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

	// A name taken on the target: refused, the source as it was.
	_, stderr, err = lxc("copy", "c1", "b:c1", "--stateless")
	if err == nil || !strings.Contains(stderr, "already exists") {
		t.Errorf("a copy onto an existing name: %v: %s", err, stderr)
	}
	must(t, lxc, "stop", "c1", "--force")

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
