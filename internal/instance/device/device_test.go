package device

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/instance/runtime"
)

func testEnv(t *testing.T) *Env {
	dir := t.TempDir()
	return &Env{Proxies: &Proxies{}, NodesDir: func(n string) string { return filepath.Join(dir, n) },
		VethName: func(i, d string) string { return i + "-" + d }, Log: slog.Default()}
}

func TestValidateRefusesWhatNoTypeTakes(t *testing.T) {
	for _, c := range []struct {
		devices map[string]Config
		want    string
	}{
		{map[string]Config{"d": {}}, "has no type"},
		{map[string]Config{"d": {"type": "gpu"}}, `unknown type "gpu" (disk, nic, none, proxy, unix-block, unix-char)`},
		{map[string]Config{"d": {"type": "disk", "path": "/x", "source": "/y", "nictype": "p2p"}}, `unknown key "nictype"`},
		{map[string]Config{"d": {"type": "disk", "path": "/x", "source": "/y", "readonly": "maybe"}}, "is not a boolean"},
		{map[string]Config{"a b": {"type": "none"}}, "device name"},
		{map[string]Config{"root": {"type": "disk", "path": "/", "source": "/srv"}}, "takes no source"},
		{map[string]Config{"n": {"type": "nic", "nictype": "p2p", "ipv4.address": "10.0.0.2"}}, "does not take ipv4.address"},
		{map[string]Config{"p": {"type": "proxy", "listen": "tcp:0.0.0.0:80", "connect": "udp:127.0.0.1:80"}}, "same protocol"},
		{map[string]Config{"u": {"type": "unix-char", "path": "dev/x"}}, "must be absolute"},
	} {
		err := Validate(c.devices)
		if err == nil || !strings.Contains(err.Error(), c.want) || apierr.Status(err) != 400 {
			t.Errorf("%v: got %v, want a 400 saying %q", c.devices, err, c.want)
		}
	}
	ok := map[string]Config{
		"root": {"type": "disk", "path": "/", "pool": "default"},
		"data": {"type": "disk", "path": "/data", "source": "/srv", "readonly": "true", "limits.read": "10MB"},
		"eth0": {"type": "nic", "network": "lodgebr0", "limits.ingress": "10Mbit"},
		"web":  {"type": "proxy", "listen": "tcp:0.0.0.0:80", "connect": "tcp:127.0.0.1:80"},
		"gone": {"type": "none"},
	}
	if err := Validate(ok); err != nil {
		t.Fatal(err)
	}
}

func TestResolveSkipsWhatIsNotThere(t *testing.T) {
	env := testEnv(t)
	inst := Instance{Name: "c1", Devices: map[string]Config{
		"root":     {"type": "disk", "path": "/", "pool": "default"},
		"optional": {"type": "disk", "path": "/x", "source": "/nonexistent", "required": "false"},
		"gone":     {"type": "none"},
	}}
	devs, err := Resolve(env, inst)
	if err != nil || len(devs) != 0 {
		t.Fatalf("resolved %v, %v; want nothing to do", devs, err)
	}
	inst.Devices["needed"] = Config{"type": "disk", "path": "/x", "source": "/nonexistent"}
	if _, err := Resolve(env, inst); err == nil || apierr.Status(err) != 400 {
		t.Fatalf("a missing required source: %v", err)
	}
}

// A unix device's node is the instance's own: made under NodesDir with
// the instance's ids and the mode asked for; unplugging needs no node.
func TestUnixDevicePlugMakesTheInstancesNode(t *testing.T) {
	env := testEnv(t)
	m := &idmap.Map{HostUID: 100000, HostGID: 200000, Size: idmap.Size}
	inst := Instance{Name: "c1", IDMap: m, Devices: map[string]Config{
		"null": {"type": "unix-char", "path": "/dev/mynull", "major": "1", "minor": "3", "uid": "5", "gid": "6", "mode": "0640"}}}
	devs, err := Resolve(env, inst)
	if err != nil {
		t.Fatal(err)
	}
	p, err := devs["null"].Plug(env, inst)
	if err != nil {
		t.Fatal(err)
	}
	u := p.(runtime.UnixDev)
	var st unix.Stat_t
	if err := unix.Lstat(u.Source, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Mode&0o777 != 0o640 || st.Uid != 100005 || st.Gid != 200006 || unix.Major(st.Rdev) != 1 {
		t.Fatalf("node %s: mode %o, owner %d:%d", u.Source, st.Mode, st.Uid, st.Gid)
	}
	if !strings.HasPrefix(u.Source, env.NodesDir("c1")) {
		t.Fatalf("node made at %s, outside the instance's nodes directory", u.Source)
	}
	if got := devs["null"].Plugged().(runtime.UnixDev); got.Path != "/dev/mynull" || got.Major != 1 || got.Minor != 3 {
		t.Fatalf("unplugged as %+v", got)
	}
	// Resolving again gives an equal device: nothing to replug.
	again, _ := Resolve(env, inst)
	if again["null"] != devs["null"] {
		t.Fatal("the same config resolved to a different device")
	}
}

// A NIC whose policy changes keeps its interface: Update takes it live;
// one whose interface changes must be replugged.
func TestNICPolicyChangesLive(t *testing.T) {
	env := testEnv(t)
	base := nicDevice{name: "eth0", nic: runtime.NIC{Name: "eth0", HostName: "c1-eth0", Type: runtime.NICMacvlan, Parent: "eth9"}}
	stricter := base
	stricter.policy.filter.Priority = 7
	if stricter == base {
		t.Fatal("a policy change left the device equal")
	}
	done, err := stricter.Update(env, Instance{Name: "c1"}, 1, base)
	if err != nil || !done {
		t.Fatalf("policy change: done %v, %v", done, err)
	}
	moved := base
	moved.nic.Parent = "eth8"
	if done, _ := moved.Update(env, Instance{Name: "c1"}, 1, base); done {
		t.Fatal("a NIC on another parent was updated in place")
	}
}

func TestParsePorts(t *testing.T) {
	p, err := ParsePorts("80, 443,8000-8100")
	if err != nil {
		t.Fatal(err)
	}
	for port, want := range map[int]bool{80: true, 443: true, 8050: true, 22: false, 8101: false} {
		if p.allows(port) != want {
			t.Errorf("port %d allowed: %v", port, !want)
		}
	}
	for _, bad := range []string{"0", "70000", "90-80", "http"} {
		if _, err := ParsePorts(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if !AllowedPorts(nil).allows(1) {
		t.Fatal("no list allows every port")
	}
}

// A device that no longer resolves does not keep the others from being
// taken down.
func TestResolveWhatCanSkipsOnlyWhatFails(t *testing.T) {
	env := testEnv(t)
	inst := Instance{Name: "c1", Devices: map[string]Config{
		"gone": {"type": "disk", "path": "/x", "source": "/nonexistent"},
		"web":  {"type": "proxy", "listen": "tcp:127.0.0.1:8080", "connect": "tcp:127.0.0.1:80"},
	}}
	if _, err := Resolve(env, inst); err == nil {
		t.Fatal("a missing required source resolved")
	}
	devs := ResolveWhatCan(env, inst)
	if _, ok := devs["web"]; !ok || len(devs) != 1 {
		t.Fatalf("resolved what can: %v", devs)
	}
}
