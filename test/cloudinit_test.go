package test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lodge-project/lodge/api"
)

func debianCloudImage(t *testing.T) string {
	t.Helper()
	return cachedImageWith(t, "debian-cloud.tar.gz", "build-debian-image.sh", "cloud")
}

// TestCloudInit boots Debian's real cloud-init in a container: the
// instance's user-data makes a user with an SSH key, runs runcmd and sets
// root's password; its network-config gives eth0 a static address; its
// name is the hostname. cloud-init reads them from the NoCloud seed the
// image's templates write.
func TestCloudInit(t *testing.T) {
	d, _ := startDaemonInNetns(t)
	d.MustLodge("image", "import", debianCloudImage(t), "--alias", "cloud")
	br := uniq("cbr")
	d.MustLodge("network", "create", br)
	var n api.Network
	_, env := d.API("GET", "/1.0/networks/"+br, nil)
	_ = json.Unmarshal(env.Metadata, &n)
	gw, err := netip.ParsePrefix(n.Config["ipv4.address"])
	if err != nil {
		t.Fatal(err)
	}
	static := netip.PrefixFrom(gw.Masked().Addr().Next().Next().Next().Next().Next().Next().Next(), gw.Bits()) // .7
	d.MustLodge("profile", "device", "add", "default", "eth0", "nic", "network="+br)

	// Malformed YAML is refused, and nothing is made.
	if _, stderr, err := d.Lodge("launch", "cloud", "bad", "-c", "cloud-init.user-data=#cloud-config\nusers: [\n"); err == nil || !strings.Contains(stderr, "cloud-init.user-data") {
		t.Fatalf("malformed user-data: %v %s", err, stderr)
	}
	if _, stderr, err := d.Lodge("launch", "cloud", "bad", "-c", "cloud-init.network-config=version: 2\n  x: [\n"); err == nil || !strings.Contains(stderr, "cloud-init.network-config") {
		t.Fatalf("malformed network-config: %v %s", err, stderr)
	}
	if out := d.MustLXC("list", "--format", "csv", "-c", "n"); strings.Contains(out, "bad") {
		t.Fatalf("a refused launch left an instance:\n%s", out)
	}

	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFvQdx7N9jkmi0vTbxO0fC1LQ1OZ2m8pHq2kC1hGb0xQ ann@lodge"
	userData := `#cloud-config
users:
  - name: ann
    shell: /bin/bash
    ssh_authorized_keys:
      - ` + key + `
chpasswd:
  expire: false
  users:
    - {name: root, password: "lodge-s3cret", type: text}
runcmd:
  - [sh, -c, "echo ran-by-cloud-init > /var/tmp/runcmd-done"]
`
	networkConfig := `version: 2
ethernets:
  eth0:
    addresses: [` + static.String() + `]
`
	d.MustLodge("launch", "cloud", "ci1", "-c", "cloud-init.user-data="+userData, "-c", "cloud-init.network-config="+networkConfig)
	var status string
	waitFor(t, "cloud-init to finish", 180*time.Second, func() bool {
		out, _, _ := d.Lodge("exec", "ci1", "--", "cloud-init", "status")
		status = strings.TrimSpace(out)
		return strings.Contains(status, "done") || strings.Contains(status, "error")
	})
	if !strings.Contains(status, "done") {
		log, _, _ := d.Lodge("exec", "ci1", "--", "sh", "-c", "grep -E -A12 'WARNING|Traceback' /var/log/cloud-init.log | tail -60")
		t.Fatalf("cloud-init status: %s\n%s", status, log)
	}
	if out := d.MustLodge("exec", "ci1", "--", "cat", "/home/ann/.ssh/authorized_keys"); !strings.Contains(out, key) {
		t.Errorf("ann's authorized_keys: %q", out)
	}
	if out := d.MustLodge("exec", "ci1", "--", "stat", "-c", "%U", "/home/ann"); strings.TrimSpace(out) != "ann" {
		t.Errorf("ann's home belongs to %q", out)
	}
	if out := d.MustLodge("exec", "ci1", "--", "cat", "/var/tmp/runcmd-done"); strings.TrimSpace(out) != "ran-by-cloud-init" {
		t.Errorf("runcmd: %q", out)
	}
	if out := d.MustLodge("exec", "ci1", "--", "hostname"); strings.TrimSpace(out) != "ci1" {
		t.Errorf("hostname: %q", out)
	}
	waitFor(t, "the static address on eth0", 30*time.Second, func() bool {
		out, _, _ := d.Lodge("exec", "ci1", "--", "ip", "-4", "addr", "show", "eth0")
		return strings.Contains(out, static.String())
	})
	// With /dev/lxd (security.devlxd, on by default), cloud-init read all
	// this through LXD's datasource.
	if out := d.MustLodge("exec", "ci1", "--", "cloud-init", "query", "v1.platform"); strings.TrimSpace(out) != "lxd" {
		t.Errorf("cloud-init's platform: %q, want lxd (/dev/lxd)", out)
	}
	// The guest API from inside: user.* and cloud-init.* keys, nothing else.
	d.MustLodge("config", "set", "ci1", "user.panel-id=42")
	// ask GETs path of ci1's /dev/lxd from inside: the status, then the
	// body (its sha256 when hashed: an image is no text).
	ask := func(path string, hashed bool) string {
		out, stderr, err := d.Lodge("exec", "ci1", "--", "python3", "-c", `
import hashlib, http.client, socket, sys
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect("/dev/lxd/sock")
c = C("devlxd")
c.request("GET", sys.argv[1])
r = c.getresponse()
if sys.argv[2] == "hashed":
    h = hashlib.sha256()
    while True:
        b = r.read(1 << 20)
        if not b:
            break
        h.update(b)
    print(r.status, h.hexdigest())
else:
    print(r.status, r.read().decode())
`, path, map[bool]string{true: "hashed", false: "text"}[hashed])
		if err != nil {
			t.Fatalf("devlxd %s: %v %s", path, err, stderr)
		}
		return strings.TrimSpace(out)
	}
	devlxd := func(path string) string { return ask(path, false) }
	if got := devlxd("/1.0/config/user.panel-id"); got != "200 42" {
		t.Errorf("/dev/lxd user.panel-id: %q", got)
	}
	if got := devlxd("/1.0/config/limits.memory"); !strings.HasPrefix(got, "403") {
		t.Errorf("/dev/lxd limits.memory: %q, want 403", got)
	}
	if got := devlxd("/1.0/meta-data"); !strings.Contains(got, "local-hostname: ci1") {
		t.Errorf("/dev/lxd meta-data: %q", got)
	}
	// Images through /dev/lxd (as a nested LXD fetches them): only with
	// security.devlxd.images, and only the host's public or cached ones.
	var alias api.ImageAliasesEntry
	_, env = d.API("GET", "/1.0/images/aliases/cloud", nil)
	if err := json.Unmarshal(env.Metadata, &alias); err != nil || alias.Target == "" {
		t.Fatalf("the cloud image's alias: %v %s", err, env.Metadata)
	}
	export := func() string { return ask("/1.0/images/"+alias.Target+"/export", true) }
	if got := export(); !strings.HasPrefix(got, "403") {
		t.Errorf("an image through /dev/lxd without security.devlxd.images: %q, want 403", got)
	}
	d.MustLodge("config", "set", "ci1", "security.devlxd.images=true")
	if got := export(); !strings.HasPrefix(got, "404") {
		t.Errorf("a private image through /dev/lxd: %q, want 404", got)
	}
	if code, env := d.API("PATCH", "/1.0/images/"+alias.Target, map[string]any{"public": true}); code != 200 {
		t.Fatalf("make the cloud image public: %d %s", code, env.Error)
	}
	if got := export(); got != "200 "+alias.Target {
		t.Errorf("a public image through /dev/lxd: %q, want its whole file (200 %s)", got, alias.Target)
	}

	// A restart of lodged leaves ci1 running, and its /dev/lxd answers again.
	d.Stop()
	d.Start()
	if got := devlxd("/1.0/config/user.panel-id"); got != "200 42" {
		t.Errorf("/dev/lxd after lodged restarted: %q", got)
	}
	// From the host, the same socket answers nothing.
	hostClient := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var nd net.Dialer
		return nd.DialContext(ctx, "unix", filepath.Join(d.Dir, "devlxd", "ci1", "sock"))
	}}}
	if resp, err := hostClient.Get("http://devlxd/1.0/config/user.panel-id"); err != nil || resp.StatusCode != 403 {
		t.Errorf("a host process asked ci1's /dev/lxd: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// Without /dev/lxd, cloud-init reads the NoCloud seed the templates wrote.
	d.MustLodge("launch", "cloud", "ci2", "-c", "security.devlxd=false", "-c", "cloud-init.user-data=#cloud-config\nruncmd:\n  - [touch, /var/tmp/seeded]\n")
	waitFor(t, "cloud-init to finish in ci2", 180*time.Second, func() bool {
		out, _, _ := d.Lodge("exec", "ci2", "--", "cloud-init", "status")
		return strings.Contains(out, "done") || strings.Contains(out, "error")
	})
	if out := d.MustLodge("exec", "ci2", "--", "cloud-init", "query", "v1.platform"); strings.TrimSpace(out) != "nocloud" {
		t.Errorf("ci2's cloud-init platform: %q, want nocloud (the seed)", out)
	}
	if _, _, err := d.Lodge("exec", "ci2", "--", "test", "-e", "/var/tmp/seeded"); err != nil {
		t.Error("ci2's runcmd did not run")
	}
	if _, _, err := d.Lodge("exec", "ci2", "--", "test", "-e", "/dev/lxd/sock"); err == nil {
		t.Error("ci2 has /dev/lxd/sock with security.devlxd=false")
	}

	// chpasswd: root has a password hash now, and it is the one set.
	shadow := func() string {
		out := d.MustLodge("exec", "ci1", "--", "getent", "shadow", "root")
		return strings.Split(strings.TrimSpace(out), ":")[1]
	}
	first := shadow()
	if !strings.HasPrefix(first, "$") {
		t.Fatalf("root's password after cloud-init's chpasswd: %q", first)
	}
	checkPassword := func(pw string) bool {
		_, _, err := d.LodgeIn(pw+"\n", "exec", "ci1", "--", "sh", "-c",
			`read pw; python3 -c 'import crypt,sys,spwd; h=spwd.getspnam("root").sp_pwdp; sys.exit(0 if crypt.crypt(sys.argv[1], h)==h else 1)' "$pw"`)
		return err == nil
	}
	if !checkPassword("lodge-s3cret") {
		t.Error("root's password is not the one cloud-init's chpasswd set")
	}
	// The README's way for a running container: lodge exec ... chpasswd.
	if _, stderr, err := d.LodgeIn("root:n3w-pass\n", "exec", "ci1", "--", "chpasswd"); err != nil {
		t.Fatalf("chpasswd: %v %s", err, stderr)
	}
	if shadow() == first || !checkPassword("n3w-pass") || checkPassword("lodge-s3cret") {
		t.Error("lodge exec ci1 -- chpasswd did not change root's password")
	}
}
