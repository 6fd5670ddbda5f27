package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// testBridge makes a host bridge for the test and removes it afterwards.
func testBridge(t *testing.T) string {
	t.Helper()
	name := uniq("lbr")
	if out, err := exec.Command("ip", "link", "add", name, "type", "bridge").CombinedOutput(); err != nil {
		t.Fatalf("create bridge: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", name).Run() })
	return name
}

func TestDiskDevices(t *testing.T) {
	d := withBusybox(t)
	name := uniq("disk")
	shared := t.TempDir()
	os.Chmod(shared, 0o755)
	os.WriteFile(filepath.Join(shared, "from-host"), []byte("host data\n"), 0o644)
	d.MustLodge("launch", "busybox", name)

	// Hot-plugged into the running container. Not shifted (LXD's default):
	// host root's files show as nobody inside, and container root writes as
	// its own host id, so a setuid binary made inside is not host root's.
	d.MustLodge("config", "device", "add", name, "data", "disk", "source="+shared, "path=/mnt/data")
	if out := d.MustLodge("exec", name, "--", "cat", "/mnt/data/from-host"); out != "host data\n" {
		t.Fatalf("hot-plugged disk: %q", out)
	}
	if out := d.MustLodge("exec", name, "--", "stat", "-c", "%u:%g", "/mnt/data/from-host"); strings.TrimSpace(out) != "65534:65534" {
		t.Fatalf("owner of a host root file inside an unshifted disk: %q (want 65534:65534, nobody)", out)
	}
	if _, _, err := d.Lodge("exec", name, "--", "touch", "/mnt/data/as-root"); err == nil {
		t.Fatal("container root wrote into a host root directory through an unshifted disk")
	}
	base := strings.TrimSpace(d.MustLodge("config", "get", name, "volatile.idmap.base"))
	hostRoot, _ := strconv.Atoi(base)
	if err := os.Chown(shared, hostRoot, hostRoot); err != nil {
		t.Fatal(err)
	}
	d.MustLodge("exec", name, "--", "sh", "-c", "echo from-container > /mnt/data/new && cp /bin/busybox /mnt/data/suid && chmod 4755 /mnt/data/suid")
	for _, f := range []string{"new", "suid"} {
		st, err := os.Stat(filepath.Join(shared, f))
		if err != nil {
			t.Fatalf("file written inside is not on the host: %v", err)
		}
		if uid := st.Sys().(*syscall.Stat_t).Uid; int(uid) != hostRoot {
			t.Fatalf("%s written by container root is owned by host uid %d, want %d (the instance's root)", f, uid, hostRoot)
		}
	}
	// Every shared mount is nosuid and nodev.
	if out := d.MustLodge("exec", name, "--", "grep", " /mnt/data ", "/proc/mounts"); !strings.Contains(out, "nosuid") || !strings.Contains(out, "nodev") {
		t.Fatalf("disk mount options: %q (want nosuid and nodev)", out)
	}
	// shift=true (opt-in): idmapped, host root's files are root's inside.
	d.MustLodge("config", "device", "add", name, "shifted", "disk", "source="+shared, "path=/mnt/shifted", "shift=true")
	if out := d.MustLodge("exec", name, "--", "stat", "-c", "%u:%g", "/mnt/shifted/from-host", "/mnt/shifted/new"); strings.Fields(out)[0] != "0:0" || strings.Fields(out)[1] != "65534:65534" {
		t.Fatalf("owners inside a shifted disk: %q (want 0:0 for host root's file, nobody for the instance root's)", out)
	}
	if out := d.MustLodge("exec", name, "--", "grep", " /mnt/shifted ", "/proc/mounts"); !strings.Contains(out, "nosuid") || !strings.Contains(out, "nodev") {
		t.Fatalf("shifted disk mount options: %q (want nosuid and nodev)", out)
	}
	d.MustLodge("config", "device", "remove", name, "shifted")
	// A root disk takes no source.
	if _, stderr, err := d.Lodge("config", "device", "add", name, "root2", "disk", "path=/", "pool=default", "source="+shared); err == nil || !strings.Contains(stderr, "takes no source") {
		t.Fatalf("root disk with a source: %v %q", err, stderr)
	}
	// Read-only, changed live: detached and re-attached.
	d.MustLodge("config", "device", "set", name, "data", "readonly=true")
	if _, _, err := d.Lodge("exec", name, "--", "touch", "/mnt/data/nope"); err == nil {
		t.Fatal("a read-only disk was writable")
	}
	// Survives a restart (cold-plugged at start).
	d.MustLodge("restart", "-f", name)
	if out := d.MustLodge("exec", name, "--", "cat", "/mnt/data/from-host"); out != "host data\n" {
		t.Fatalf("disk after restart: %q", out)
	}
	d.MustLodge("config", "device", "remove", name, "data")
	if out, _, _ := d.Lodge("exec", name, "--", "cat", "/proc/mounts"); strings.Contains(out, "/mnt/data") {
		t.Fatalf("removed disk still mounted:\n%s", out)
	}

	// Bad input: a missing source, an unknown type, a missing key.
	for _, args := range [][]string{
		{"missing", "disk", "source=/nonexistent/dir", "path=/mnt/x"},
		{"weird", "floppy"},
		{"nopath", "disk", "source=" + shared},
	} {
		if _, stderr, err := d.Lodge(append([]string{"config", "device", "add", name}, args...)...); err == nil || !strings.Contains(stderr, "device") {
			t.Errorf("device add %v: %v %q", args, err, stderr)
		}
	}
	if out := d.MustLodge("config", "device", "list", name); strings.TrimSpace(out) != "" {
		t.Fatalf("refused devices were kept: %q", out)
	}
}

func TestUnixAndNICDevices(t *testing.T) {
	d := withBusybox(t)
	name := uniq("dev")
	br := testBridge(t)
	d.MustLodge("init", "busybox", name)
	d.MustLodge("config", "device", "add", name, "mynull", "unix-char", "source=/dev/null", "path=/dev/mynull")
	d.MustLodge("config", "device", "add", name, "eth0", "nic", "nictype=bridged", "parent="+br)
	d.MustLodge("start", name)
	if _, _, err := d.Lodge("exec", name, "--", "sh", "-c", "echo x > /dev/mynull"); err != nil {
		t.Fatalf("write to a unix-char device: %v", err)
	}
	mac := strings.TrimSpace(d.MustLodge("config", "get", name, "volatile.eth0.hwaddr"))
	if !strings.HasPrefix(mac, "00:16:3e:") {
		t.Fatalf("volatile.eth0.hwaddr = %q", mac)
	}
	if out := d.MustLodge("exec", name, "--", "cat", "/sys/class/net/eth0/address"); strings.TrimSpace(out) != mac {
		t.Fatalf("eth0 inside has MAC %q, want %q", out, mac)
	}
	out, _ := exec.Command("ip", "-o", "link", "show", "master", br).CombinedOutput()
	if !strings.Contains(string(out), name[:10]+"-") {
		t.Fatalf("host veth not on the bridge: %s", out)
	}
	// Hot-plug a second NIC and a device node; unplug them again.
	d.MustLodge("config", "device", "add", name, "eth1", "nic", "parent="+br, "name=eth1")
	d.MustLodge("config", "device", "add", name, "myzero", "unix-char", "source=/dev/zero", "path=/dev/myzero")
	if out := d.MustLodge("exec", name, "--", "sh", "-c", "ls /sys/class/net; head -c 4 /dev/myzero | wc -c"); !strings.Contains(out, "eth1") || !strings.Contains(out, "4") {
		t.Fatalf("hot-plugged devices: %q", out)
	}
	d.MustLodge("config", "device", "remove", name, "eth1", "myzero")
	if out := d.MustLodge("exec", name, "--", "ls", "/sys/class/net"); strings.Contains(out, "eth1") {
		t.Fatalf("eth1 still there: %q", out)
	}
	if _, _, err := d.Lodge("exec", name, "--", "head", "-c", "1", "/dev/myzero"); err == nil {
		t.Fatal("removed device still readable")
	}
	// The MAC is stable across restarts.
	d.MustLodge("restart", "-f", name)
	if out := d.MustLodge("exec", name, "--", "cat", "/sys/class/net/eth0/address"); strings.TrimSpace(out) != mac {
		t.Fatalf("MAC changed across restart: %q", out)
	}
	if _, stderr, err := d.Lodge("config", "device", "add", name, "eth2", "nic", "parent=nosuchbr0"); err == nil || !strings.Contains(stderr, "does not exist") {
		t.Fatalf("nic on a missing bridge: %v %q", err, stderr)
	}
	if _, stderr, err := d.Lodge("config", "device", "add", name, "blk", "unix-block", "source=/dev/null"); err == nil || !strings.Contains(stderr, "not a block") {
		t.Fatalf("unix-block on a char device: %v %q", err, stderr)
	}
}

// TestUnixDeviceNodesOfTheirOwn: a unix-char device whose host node only
// host root may open (0600, like /dev/fuse on some hosts) works inside an
// unprivileged container, which gets a node of its own with the uid, gid
// and mode asked for (LXD's defaults: 0, 0, 0660); major and minor can be
// given without a host node; a hot-plug that fails leaves nothing.
func TestUnixDeviceNodesOfTheirOwn(t *testing.T) {
	d := withBusybox(t)
	name := uniq("node")
	hostNode := filepath.Join(t.TempDir(), "null0600")
	if err := syscall.Mknod(hostNode, syscall.S_IFCHR|0o600, int(1<<8|3)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(hostNode, 0o600); err != nil {
		t.Fatal(err)
	}
	d.MustLXC("init", "busybox", name)
	d.MustLXC("config", "device", "add", name, "cold", "unix-char", "source="+hostNode, "path=/dev/cold")
	d.MustLXC("start", name)
	d.MustLXC("exec", name, "--", "sh", "-c", "echo x > /dev/cold")
	if out := d.MustLXC("exec", name, "--", "stat", "-c", "%u %g %a", "/dev/cold"); strings.TrimSpace(out) != "0 0 660" {
		t.Fatalf("cold-plugged node: %q (want 0 0 660)", out)
	}
	// Hot-plugged, with ids and a mode, and by major/minor alone.
	d.MustLXC("config", "device", "add", name, "hot", "unix-char", "source="+hostNode, "path=/dev/hot", "uid=1000", "gid=1000", "mode=0640")
	if out := d.MustLXC("exec", name, "--", "stat", "-c", "%u %g %a", "/dev/hot"); strings.TrimSpace(out) != "1000 1000 640" {
		t.Fatalf("hot-plugged node: %q (want 1000 1000 640)", out)
	}
	d.MustLXC("config", "device", "add", name, "bynum", "unix-char", "path=/dev/bynum", "major=1", "minor=5")
	if out := d.MustLXC("exec", name, "--", "sh", "-c", "head -c 3 /dev/bynum | wc -c"); strings.TrimSpace(out) != "3" {
		t.Fatalf("node by major/minor (1:5, zero): %q", out)
	}
	// A hot-plug that fails (a node cannot go over a directory) is undone.
	if _, stderr, err := d.LXC("config", "device", "add", name, "bad", "unix-char", "source="+hostNode, "path=/etc"); err == nil {
		t.Fatalf("a node over /etc was accepted: %q", stderr)
	}
	if out := d.MustLXC("config", "device", "list", name); strings.Contains(out, "bad") {
		t.Fatalf("the failed device was kept:\n%s", out)
	}
	if out := d.MustLXC("exec", name, "--", "stat", "-c", "%F", "/etc"); !strings.Contains(out, "directory") {
		t.Fatalf("/etc after a failed hot-plug: %q", out)
	}
	// A required=false device whose node is missing is skipped.
	d.MustLXC("config", "device", "add", name, "opt", "unix-char", "source=/nonexistent/node", "required=false")
	if _, stderr, err := d.LXC("config", "device", "add", name, "req", "unix-char", "source=/nonexistent/node"); err == nil || !strings.Contains(stderr, "does not exist") {
		t.Fatalf("a required missing node: %v %q", err, stderr)
	}
}
