package test

import (
	"strings"
	"testing"
)

func TestLodgeInit(t *testing.T) {
	d, _ := startDaemonInNetns(t)
	d.MustLodge("image", "import", busyboxImage(t), "--alias", "busybox")
	// Before init, a launch says how to get a network.
	name := uniq("pre")
	_, stderr, err := d.Lodge("launch", "busybox", name)
	if err != nil || !strings.Contains(stderr, "lodge init") {
		t.Fatalf("launch before init: %v %q", err, stderr)
	}
	d.MustLodge("delete", "-f", name)

	// Interactive: a wrong answer is asked again; the preseed is printed.
	answers := "maybe\nyes\nlbr0x\nauto\nyes\nnone\nyes\n"
	out, errOut, err := d.LodgeIn(answers, "init")
	if err != nil {
		t.Fatalf("lodge init: %v %s", err, errOut)
	}
	if !strings.Contains(out, "Invalid input") || !strings.Contains(out, "name: lbr0x") {
		t.Fatalf("lodge init dialogue:\n%s", out)
	}
	if _, _, err := d.LodgeIn("yes\n", "init"); err == nil {
		t.Fatal("lodge init with answers cut short succeeded")
	}
	a := uniq("ia")
	d.MustLodge("launch", "busybox", a)
	ip := ipv4Of(t, d, a)
	if !strings.HasPrefix(ip, "10.") {
		t.Fatalf("address after lodge init: %q", ip)
	}
	dump := d.MustLodge("init", "--dump")
	for _, want := range []string{"name: lbr0x", "ipv4.nat: \"true\"", "network: lbr0x", "driver: dir"} {
		if !strings.Contains(dump, want) {
			t.Fatalf("lodge init --dump lacks %q:\n%s", want, dump)
		}
	}
	// A preseed written for lxd init, with a second bridge.
	lxdPreseed := `config: {}
networks:
- config:
    ipv4.address: 10.77.0.1/24
    ipv4.nat: "true"
    ipv6.address: none
  description: ""
  name: lxdbr1
  type: bridge
  project: default
storage_pools:
- config: {}
  description: ""
  name: default
  driver: dir
- config: {}
  description: second pool
  name: extra
  driver: dir
profiles:
- config: {}
  description: ""
  devices:
    eth0:
      name: eth0
      network: lbr0x
      type: nic
    eth1:
      name: eth1
      network: lxdbr1
      type: nic
    root:
      path: /
      pool: default
      type: disk
  name: default
projects: []
cluster: null
`
	if _, errOut, err := d.LodgeIn(lxdPreseed, "init", "--preseed"); err != nil {
		t.Fatalf("lodge init --preseed: %v %s", err, errOut)
	}
	if out := d.MustLodge("network", "list", "--format", "csv"); !strings.Contains(out, "lxdbr1,BRIDGE,true,10.77.0.1/24") {
		t.Fatalf("networks after preseed: %q", out)
	}
	if out := d.MustLodge("exec", a, "--", "ls", "/sys/class/net"); !strings.Contains(out, "eth1") {
		t.Fatalf("the profile edit did not reach the running instance: %q", out)
	}
	if out := d.MustLodge("storage", "list", "--format", "csv"); !strings.Contains(out, "extra,dir,") || !strings.Contains(out, "second pool") {
		t.Fatalf("pools after preseed: %q", out)
	}
	if dump := d.MustLodge("init", "--dump"); !strings.Contains(dump, "name: extra") {
		t.Fatalf("lodge init --dump lacks the second pool:\n%s", dump)
	}
	bad := "storage_pools:\n- name: tank\n  driver: zfs\n"
	if _, errOut, err := d.LodgeIn(bad, "init", "--preseed"); err == nil || !strings.Contains(errOut, "not supported") {
		t.Fatalf("unsupported preseed part: %v %q", err, errOut)
	}
}

func TestAutoInitAndLXCNetworks(t *testing.T) {
	d, _ := startDaemonInNetns(t)
	d.MustLXC("image", "import", busyboxImage(t), "--alias", "busybox")
	d.MustLodge("init", "--auto")
	a := uniq("auto")
	d.MustLXC("launch", "busybox", a)
	ipv4Of(t, d, a)

	net := uniq("lx")
	d.MustLXC("network", "create", net, "ipv4.address=10.88.0.1/24", "ipv4.nat=true", "ipv6.address=none")
	if out := d.MustLXC("network", "list", "--format", "csv"); !strings.Contains(out, net) || !strings.Contains(out, "lodgebr0") {
		t.Fatalf("lxc network list: %q", out)
	}
	if out := d.MustLXC("network", "show", net); !strings.Contains(out, "10.88.0.1/24") {
		t.Fatalf("lxc network show:\n%s", out)
	}
	d.MustLXC("network", "set", net, "dns.domain=lab")
	if got := strings.TrimSpace(d.MustLXC("network", "get", net, "dns.domain")); got != "lab" {
		t.Fatalf("lxc network get: %q", got)
	}
	d.MustLXC("config", "device", "add", a, "eth1", "nic", "network="+net, "ipv4.address=10.88.0.20", "name=eth1")
	d.MustLXC("exec", a, "--", "udhcpc", "-n", "-q", "-i", "eth1")
	if out := d.MustLXC("exec", a, "--", "ip", "-4", "addr", "show", "eth1"); !strings.Contains(out, "10.88.0.20") {
		t.Fatalf("static address through lxc: %q", out)
	}
	if out := d.MustLXC("network", "list-leases", net); !strings.Contains(out, "10.88.0.20") {
		t.Fatalf("lxc network list-leases:\n%s", out)
	}
	if _, errOut, err := d.LXC("network", "delete", net); err == nil || !strings.Contains(errOut, "in use") {
		t.Fatalf("lxc network delete in use: %v %q", err, errOut)
	}
	d.MustLXC("config", "device", "remove", a, "eth1")
	d.MustLXC("network", "delete", net)
}
