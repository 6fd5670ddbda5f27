package test

import (
	"encoding/json"
	"net/netip"
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
