package test

import (
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lodge-project/lodge/api"
)

// TestProjects drives projects with lxc 5.0.2 and lodge: their own
// images and profiles, the same instance name in two projects, limits,
// restrictions, LXD's rules for features, deletion, and events.
func TestProjects(t *testing.T) {
	d := withBusybox(t)
	lxc := func(args ...string) string { t.Helper(); return d.MustLXC(args...) }
	refused := refusedByLXC(t, d)

	lxc("project", "create", "p1")
	var p api.Project
	_, env := d.API("GET", "/1.0/projects/p1", nil)
	_ = json.Unmarshal(env.Metadata, &p)
	if p.Config["features.images"] != "true" || p.Config["features.profiles"] != "true" || p.Config["features.storage.volumes"] != "true" || p.Config["features.networks"] != "" {
		t.Fatalf("a new project's features: %v", p.Config)
	}
	if out := lxc("project", "list", "--format", "csv"); !strings.Contains(out, "p1,") || !strings.Contains(out, "default") {
		t.Errorf("lxc project list:\n%s", out)
	}
	refused("a project name with _", "underscores", "project", "create", "bad_name")
	refused("an unknown project key", "limits.nothing", "project", "create", "p9", "-c", "limits.nothing=10GiB")
	refused("an unknown project", "not found", "list", "--project", "nope")

	// p1 has its own images and profiles: the default project's are not
	// there, and its default profile is empty.
	if out := lxc("image", "list", "--project", "p1", "--format", "csv"); strings.TrimSpace(out) != "" {
		t.Errorf("p1 sees images: %s", out)
	}
	d.MustLodge("--project", "p1", "image", "import", busyboxImage(t), "--alias", "busybox")
	refused("a launch without a root disk", "root disk", "launch", "busybox", "c1", "--project", "p1")
	lxc("profile", "device", "add", "default", "root", "disk", "path=/", "pool=default", "--project", "p1")

	// The same name in both projects: two instances, apart everywhere.
	lxc("launch", "busybox", "c1")
	lxc("launch", "busybox", "c1", "--project", "p1")
	if out := lxc("list", "--project", "p1", "--format", "csv", "-c", "ns"); strings.TrimSpace(out) != "c1,RUNNING" {
		t.Errorf("lxc list --project p1: %q", out)
	}
	d.MustLodge("--project", "p1", "exec", "c1", "--", "touch", "/in-p1")
	if _, _, err := d.Lodge("exec", "c1", "--", "test", "-e", "/in-p1"); err == nil {
		t.Error("the default project's c1 sees p1's c1's file")
	}
	lxc("delete", "-f", "c1")
	if out := lxc("list", "--project", "p1", "--format", "csv", "-c", "ns"); strings.TrimSpace(out) != "c1,RUNNING" {
		t.Errorf("p1's c1 after the default one went: %q", out)
	}

	// Limits: checked on create, update and when set.
	lxc("project", "set", "p1", "limits.instances=1")
	refused("a second instance over limits.instances", "limits.instances", "init", "busybox", "c2", "--project", "p1")
	lxc("project", "set", "p1", "limits.instances=5")
	refused("limits.memory while c1 has none", "must set limits.memory", "project", "set", "p1", "limits.memory=256MiB")
	lxc("config", "set", "c1", "limits.memory=128MiB", "--project", "p1")
	lxc("project", "set", "p1", "limits.memory=256MiB")
	refused("a launch over limits.memory", "limits.memory", "init", "busybox", "c2", "--project", "p1", "-c", "limits.memory=200MiB")
	refused("an update over limits.memory", "limits.memory", "config", "set", "c1", "limits.memory=300MiB", "--project", "p1")
	lxc("init", "busybox", "c2", "--project", "p1", "-c", "limits.memory=100MiB")
	var st api.ProjectState
	_, env = d.API("GET", "/1.0/projects/p1/state", nil)
	_ = json.Unmarshal(env.Metadata, &st)
	if m := st.Resources["memory"]; m.Limit != 256<<20 || m.Usage != 228<<20 || st.Resources["instances"].Usage != 2 {
		t.Errorf("p1's state: %+v", st.Resources)
	}

	// Restrictions.
	lxc("project", "set", "p1", "restricted=true")
	refused("a privileged container", "restricted.containers.privilege", "init", "busybox", "c3", "--project", "p1", "-c", "limits.memory=8MiB", "-c", "security.privileged=true")
	refused("nesting", "restricted.containers.nesting", "config", "set", "c1", "security.nesting=true", "--project", "p1")
	refused("a unix-char device", "restricted.devices.unix-char", "config", "device", "add", "c1", "null", "unix-char", "path=/dev/x", "source=/dev/null", "--project", "p1")
	refused("a host path disk", "restricted.devices.disk", "config", "device", "add", "c1", "data", "disk", "source=/etc", "path=/mnt", "--project", "p1")
	refused("nesting through a profile", "restricted.containers.nesting", "profile", "set", "default", "security.nesting=true", "--project", "p1")
	refused("a snapshot", "restricted.snapshots", "snapshot", "c1", "--project", "p1")
	lxc("project", "set", "p1", "restricted.snapshots=allow")
	lxc("snapshot", "c1", "s1", "--project", "p1")
	refused("an unenforced restriction", "not enforced", "project", "set", "p1", "restricted.networks.uplinks=x")
	refused("an unenforced restriction", "not enforced", "project", "set", "p1", "restricted.networks.subnets=x")

	// Features change only while the project is empty; a non-empty one
	// is not deleted.
	refused("features.images on a project with instances", "empty projects", "project", "set", "p1", "features.images=false")
	refused("deleting a project with instances", "only empty projects", "project", "delete", "p1")

	// Events: a client of p1 hears p1's, not the default project's.
	dialer := websocket.Dialer{NetDial: func(_, _ string) (net.Conn, error) { return net.Dial("unix", filepath.Join(d.Dir, "unix.socket")) }}
	ws, _, err := dialer.Dial("ws://lodge/1.0/events?type=lifecycle&project=p1", http.Header{})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	lxc("launch", "busybox", "other")
	lxc("start", "c2", "--project", "p1")
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var ev api.Event
		if err := ws.ReadJSON(&ev); err != nil {
			t.Fatalf("no p1 event: %v", err)
		}
		raw, _ := json.Marshal(ev.Metadata)
		if strings.Contains(string(raw), "/1.0/instances/other") {
			t.Fatalf("a p1 client heard a default-project event: %s", raw)
		}
		if ev.Project == "p1" && strings.Contains(string(raw), "c2") {
			break
		}
	}

	// lodge project switch: later commands act in p1.
	conf := []string{"LODGE_DIR=" + d.Dir, "LODGE_CONF=" + t.TempDir()}
	if _, stderr, err := run(conf, "", lodgeBin, "project", "switch", "p1"); err != nil {
		t.Fatalf("lodge project switch: %v %s", err, stderr)
	}
	if out, _, _ := run(conf, "", lodgeBin, "list"); !strings.Contains(out, "c2") || strings.Contains(out, "other") {
		t.Errorf("lodge list after switching to p1:\n%s", out)
	}

	// A project without features.images and features.profiles uses the
	// default project's; instances move into it with --target-project.
	lxc("project", "create", "p2", "-c", "features.images=false", "-c", "features.profiles=false")
	if out := lxc("image", "list", "--project", "p2", "--format", "csv", "-c", "l"); !strings.Contains(out, "busybox") {
		t.Errorf("p2 does not see the default project's images: %q", out)
	}
	lxc("stop", "-f", "other")
	lxc("copy", "other", "other2", "--target-project", "p2")
	d.MustLodge("move", "other", "--target-project", "p2")
	if out := lxc("list", "--project", "p2", "--format", "csv", "-c", "n"); !strings.Contains(out, "other\n") || !strings.Contains(out, "other2") {
		t.Errorf("p2 after the copy and the move: %q", out)
	}
	if out := lxc("list", "--format", "csv", "-c", "n"); strings.Contains(out, "other") {
		t.Errorf("the default project after the move: %q", out)
	}
	d.MustLodge("--project", "p2", "start", "other2")
	lxc("delete", "-f", "other", "other2", "--project", "p2")
	lxc("project", "delete", "p2")

	// Emptied, it goes (its default profile with it).
	lxc("delete", "-f", "c1", "c2", "--project", "p1")
	lxc("image", "delete", "busybox", "--project", "p1")
	lxc("project", "delete", "p1")
	if out := lxc("project", "list", "--format", "csv"); strings.Contains(out, "p1") {
		t.Errorf("p1 after its deletion:\n%s", out)
	}
	lxc("project", "create", "p1") // its name, and its default profile's, are free again
}

// TestRestrictedCertificates: a client trusted for one project sees and
// touches only that project, and nothing the host shares but to read it.
func TestRestrictedCertificates(t *testing.T) {
	d := startDaemon(t)
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	d.MustLXC("config", "set", "core.https_address", addr)
	d.MustLXC("project", "create", "p1", "-c", "features.networks=true")
	d.MustLXC("project", "create", "p2")
	out := d.MustLXC("config", "trust", "add", "--name", "tenant", "--restricted", "--projects", "p1")
	fields := strings.Fields(out)
	tok := fields[len(fields)-1]
	env := []string{"LXD_CONF=" + filepath.Join(t.TempDir(), "tenant")}
	lxc := func(args ...string) (string, string, error) { return run(env, "", "lxc", args...) }
	if out, stderr, err := lxc("remote", "add", "lodge", tok); err != nil {
		t.Fatalf("remote add by a restricted token: %v %s %s", err, out, stderr)
	}
	if out, stderr, err := lxc("list", "lodge:", "--project", "p1", "--format", "csv"); err != nil {
		t.Fatalf("list in p1: %v %s %s", err, out, stderr)
	}
	if out, _, err := lxc("profile", "list", "lodge:", "--project", "p1", "--format", "csv"); err != nil || !strings.Contains(out, "default") {
		t.Errorf("p1's profiles: %v %s", err, out)
	}
	if out, _, err := lxc("project", "list", "lodge:", "--format", "csv"); err != nil || !strings.Contains(out, "p1") || strings.Contains(out, "p2") || strings.Contains(out, "default") {
		t.Errorf("the projects a tenant sees: %v %q", err, out)
	}
	for what, args := range map[string][]string{
		"the default project":   {"list", "lodge:", "--project", "default", "--format", "csv"},
		"another project":       {"list", "lodge:", "--project", "p2"},
		"all projects":          {"list", "lodge:", "--all-projects"},
		"the server's config":   {"config", "set", "lodge:", "core.https_allowed_origin", "x"},
		"the trust store":       {"config", "trust", "list", "lodge:"},
		"a project's settings":  {"project", "set", "lodge:p1", "limits.instances=100"},
		"a new project":         {"project", "create", "lodge:p3"},
		"a storage pool":        {"storage", "create", "lodge:x", "dir"},
		"another project's key": {"project", "show", "lodge:p2"},
	} {
		if _, stderr, err := lxc(args...); err == nil {
			t.Errorf("a tenant of p1 reached %s (%v): %s", what, args, stderr)
		}
	}
	if out, _, err := lxc("storage", "list", "lodge:", "--format", "csv"); err != nil || !strings.Contains(out, "default") {
		t.Errorf("a tenant reads the pools: %v %s", err, out)
	}
	// In its project, the tenant launches and execs (operations, their
	// websockets, events).
	d.MustLodge("--project", "p1", "image", "import", busyboxImage(t), "--alias", "busybox")
	d.MustLXC("profile", "device", "add", "default", "root", "disk", "path=/", "pool=default", "--project", "p1")
	if out, stderr, err := lxc("launch", "lodge:busybox", "lodge:t1"); err != nil {
		t.Fatalf("a tenant's launch: %v %s %s", err, out, stderr)
	}
	if out, stderr, err := lxc("exec", "lodge:t1", "--", "echo", "inside"); err != nil || strings.TrimSpace(out) != "inside" {
		t.Fatalf("a tenant's exec: %v %q %s", err, out, stderr)
	}
	if out := d.MustLXC("list", "--project", "p1", "--format", "csv", "-c", "ns"); strings.TrimSpace(out) != "t1,RUNNING" {
		t.Errorf("p1 after the tenant's launch: %q", out)
	}
	// p1 has networks of its own: the tenant makes and drops one there,
	// and none in the default project.
	own := uniq("tn")
	if out, stderr, err := lxc("network", "create", "lodge:"+own, "--project", "p1"); err != nil {
		t.Errorf("a tenant's network in its project: %v %s %s", err, out, stderr)
	}
	if _, _, err := lxc("network", "create", "lodge:"+uniq("tn"), "--project", "default"); err == nil {
		t.Error("a tenant of p1 made a network in the default project")
	}
	// Its own ACLs, but no forward: that would take an address of the host.
	if out, stderr, err := lxc("network", "acl", "create", "lodge:tacl", "--project", "p1"); err != nil {
		t.Errorf("a tenant's ACL in its project: %v %s %s", err, out, stderr)
	}
	if _, stderr, err := lxc("network", "forward", "create", "lodge:"+own, "192.0.2.77", "--project", "p1"); err == nil || !strings.Contains(stderr, "restricted") {
		t.Errorf("a tenant's forward of a host address: %v %q", err, stderr)
	}
	if _, stderr, err := lxc("network", "acl", "delete", "lodge:tacl", "--project", "p1"); err != nil {
		t.Errorf("a tenant's ACL deleted: %v %s", err, stderr)
	}
	if out, stderr, err := lxc("network", "delete", "lodge:"+own, "--project", "p1"); err != nil {
		t.Errorf("a tenant's network deleted: %v %s %s", err, out, stderr)
	}
	// A copy into p1 may not name another project as its source: the
	// tenant would read an instance or volume of a project it has no part
	// in.
	d.MustLodge("image", "import", busyboxImage(t), "--alias", "bb")
	d.MustLXC("init", "bb", "victim")
	d.MustLXC("storage", "volume", "create", "default", "vsecret")
	for _, c := range []struct{ path, body string }{
		{"/1.0/instances?project=p1", `{"name": "stolen", "source": {"type": "copy", "source": "victim", "project": "default"}}`},
		{"/1.0/storage-pools/default/volumes/custom?project=p1", `{"name": "stolen", "type": "custom", "source": {"type": "copy", "name": "vsecret", "project": "default"}}`},
		{"/1.0/storage-pools/default/volumes/custom/" + own + "?project=p1", `{"name": "x", "project": "default"}`},
	} {
		if out, _, err := lxc("query", "-X", "POST", "lodge:"+c.path, "-d", c.body); err == nil {
			t.Errorf("a tenant of p1 reached the default project through %s: %s", c.path, out)
		}
	}
	if out := d.MustLXC("list", "--project", "p1", "--format", "csv", "-c", "n"); strings.Contains(out, "stolen") {
		t.Errorf("the tenant's copy of another project's instance exists: %q", out)
	}
}

// TestProjectDiskLimit: limits.disk bounds the sizes a project's root
// disks and custom volumes declare, on every path that makes or resizes
// one, and what is left of it bounds an image brought into the project.
func TestProjectDiskLimit(t *testing.T) {
	d := withBusybox(t)
	lxc := func(args ...string) string { t.Helper(); return d.MustLXC(args...) }
	refused := refusedByLXC(t, d)
	lxc("storage", "create", "bp", "btrfs", "size=1GiB")
	lxc("project", "create", "pd", "-c", "features.images=false", "-c", "limits.disk=300MiB")
	lxc("profile", "device", "add", "default", "root", "disk", "path=/", "pool=bp", "size=100MiB", "--project", "pd")
	lxc("init", "busybox", "c1", "--project", "pd")
	lxc("storage", "volume", "create", "bp", "v1", "size=100MiB", "--project", "pd")
	refused("a volume over limits.disk", "limits.disk", "storage", "volume", "create", "bp", "v2", "size=200MiB", "--project", "pd")
	refused("a volume without a size", "must set a size", "storage", "volume", "create", "bp", "v3", "--project", "pd")
	lxc("storage", "volume", "set", "bp", "v1", "size=150MiB", "--project", "pd")
	refused("a volume grown over limits.disk", "limits.disk", "storage", "volume", "set", "bp", "v1", "size=250MiB", "--project", "pd")
	refused("a copy of a volume over limits.disk", "limits.disk", "storage", "volume", "copy", "bp/v1", "bp/v4", "--project", "pd")
	refused("an instance over limits.disk", "limits.disk", "init", "busybox", "c2", "--project", "pd")
	refused("a root disk grown over limits.disk", "limits.disk", "config", "device", "override", "c1", "root", "size=200MiB", "--project", "pd")
	refused("a limit under what the project holds", "limits.disk", "project", "set", "pd", "limits.disk=200MiB")
	var st api.ProjectState
	_, env := d.API("GET", "/1.0/projects/pd/state", nil)
	_ = json.Unmarshal(env.Metadata, &st)
	if disk := st.Resources["disk"]; disk.Limit != 300<<20 || disk.Usage != 250<<20 {
		t.Errorf("pd's disk: %+v", disk)
	}
	if out := lxc("storage", "volume", "list", "bp", "--project", "pd", "--format", "csv", "-c", "n"); strings.Contains(out, "v2") || strings.Contains(out, "v3") || strings.Contains(out, "v4") {
		t.Errorf("a refused volume is there:\n%s", out)
	}

	// An image into a project of its own images takes from what is left.
	lxc("project", "create", "pi", "-c", "limits.disk=1KiB")
	if _, stderr, err := d.Lodge("--project", "pi", "image", "import", busyboxImage(t)); err == nil || !strings.Contains(stderr, "limits.disk") {
		t.Errorf("an image over what limits.disk leaves: %v %s", err, stderr)
	}
	if out := lxc("image", "list", "--project", "pi", "--format", "csv"); strings.TrimSpace(out) != "" {
		t.Errorf("a refused image is there: %s", out)
	}

	// Off a cluster, a target is refused; a restricted project refuses it
	// first, as LXD does.
	refused("a cluster target", "clustered", "init", "busybox", "c3", "--project", "pd", "--target", "elsewhere")
	lxc("project", "set", "pd", "restricted=true")
	refused("a cluster target in a restricted project", "restricted.cluster.target", "init", "busybox", "c3", "--project", "pd", "--target", "elsewhere")

	lxc("delete", "c1", "--project", "pd")
	lxc("storage", "volume", "delete", "bp", "v1", "--project", "pd")
	lxc("project", "delete", "pd")
	lxc("project", "delete", "pi")
}

// TestProjectNetworks: a project with features.networks has bridges of
// its own, which only its instances reach and which no other project
// sees; limits.networks counts them, and a restricted project's bridges
// take the subnets Lodge picks.
func TestProjectNetworks(t *testing.T) {
	d := withBusybox(t)
	lxc := func(args ...string) string { t.Helper(); return d.MustLXC(args...) }
	refused := refusedByLXC(t, d)
	own, other := uniq("pn"), uniq("df")
	lxc("network", "create", other)
	lxc("project", "create", "pn", "-c", "features.networks=true", "-c", "features.images=false", "-c", "limits.networks=1")
	if out := lxc("network", "list", "--project", "pn", "--format", "csv"); strings.TrimSpace(out) != "" {
		t.Errorf("a new project of its own networks lists some:\n%s", out)
	}
	lxc("network", "create", own, "--project", "pn")
	refused("a network over limits.networks", "limits.networks", "network", "create", uniq("pn"), "--project", "pn")
	refused("limits.networks under what the project has", "limits.networks", "project", "set", "pn", "limits.networks=0")
	refused("the name of another project's network", "taken", "network", "create", own)
	refused("another project's network, by name", "not found", "network", "show", own)
	if out := lxc("network", "list", "--format", "csv"); strings.Contains(out, own) {
		t.Errorf("the default project lists pn's network:\n%s", out)
	}
	if out := lxc("network", "list", "--project", "pn", "--format", "csv"); !strings.Contains(out, own+",bridge,YES") || strings.Contains(out, other) {
		t.Errorf("pn's networks:\n%s", out)
	}

	// Only pn's instances reach pn's network, and they reach no other.
	lxc("profile", "device", "add", "default", "root", "disk", "path=/", "pool=default", "--project", "pn")
	lxc("launch", "busybox", "c1", "--project", "pn", "-n", own)
	var n api.Network
	_, env := d.API("GET", "/1.0/networks/"+own+"?project=pn", nil)
	_ = json.Unmarshal(env.Metadata, &n)
	if len(n.UsedBy) != 1 || n.UsedBy[0] != "/1.0/instances/c1?project=pn" {
		t.Errorf("pn's network is used by %v", n.UsedBy)
	}
	refused("the default project's network from pn, to lxc", "not found", "launch", "busybox", "c2", "--project", "pn", "-n", other)
	refused("the default project's network from pn", "not one of project", "config", "device", "add", "c1", "eth9", "nic", "network="+other, "--project", "pn")
	lxc("init", "busybox", "c3")
	refused("pn's network from the default project", "not one of project", "config", "device", "add", "c3", "eth9", "nic", "network="+own)
	lxc("delete", "c3")
	var st api.ProjectState
	_, env = d.API("GET", "/1.0/projects/pn/state", nil)
	_ = json.Unmarshal(env.Metadata, &st)
	if st.Resources["networks"].Usage != 1 || st.Resources["networks"].Limit != 1 {
		t.Errorf("pn's networks in its state: %+v", st.Resources["networks"])
	}
	refused("features.networks off with a network in it", "empty projects", "project", "set", "pn", "features.networks=false")

	// A restricted project's bridges take Lodge's subnets.
	lxc("project", "set", "pn", "limits.networks=2", "restricted=true", "restricted.devices.nic=managed")
	refused("a subnet of the tenant's choosing", "auto or none", "network", "create", uniq("pn"), "ipv4.address=10.234.0.1/24", "--project", "pn")
	refused("a subnet changed by the tenant", "auto or none", "network", "set", own, "ipv4.address=10.234.0.1/24", "--project", "pn")
	lxc("network", "set", own, "dns.domain=tenant.example", "--project", "pn")

	lxc("delete", "-f", "c1", "--project", "pn")
	lxc("network", "delete", own, "--project", "pn")
	lxc("project", "delete", "pn")
	lxc("network", "delete", other)
}

// refusedByLXC checks that lxc args fails with an error naming want
// (what says what was asked).
func refusedByLXC(t *testing.T, d *Daemon) func(what, want string, args ...string) {
	return func(what, want string, args ...string) {
		t.Helper()
		if _, stderr, err := d.LXC(args...); err == nil || !strings.Contains(stderr, want) {
			t.Errorf("%s: want a refusal naming %q, got %v %s", what, want, err, stderr)
		}
	}
}
