package test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lodge-project/lodge/api"
)

// ipv4Of waits for an instance's eth0 to hold an IPv4 address.
func ipv4Of(t *testing.T, d *Daemon, name string) string {
	t.Helper()
	var addr string
	waitFor(t, name+" to get a DHCP lease", 60*time.Second, func() bool {
		out, _, _ := d.Lodge("exec", name, "--", "ip", "-4", "-o", "addr", "show", "eth0")
		f := strings.Fields(out)
		for i, w := range f {
			if w == "inet" && i+1 < len(f) {
				addr = strings.Split(f[i+1], "/")[0]
				return true
			}
		}
		return false
	})
	return addr
}

// launchOnNetwork makes an instance of image with eth0 on a managed
// network (nicKeys are more NIC keys) and starts it.
func launchOnNetwork(t *testing.T, d *Daemon, image, name, network string, nicKeys ...string) {
	t.Helper()
	d.MustLodge("init", image, name)
	d.MustLodge(append([]string{"config", "device", "add", name, "eth0", "nic", "network=" + network}, nicKeys...)...)
	d.MustLodge("start", name)
}

func TestManagedNetwork(t *testing.T) {
	d, outside := startDaemonInNetns(t)
	// Docker's habit: FORWARD policy drop in another table.
	nsRun(t, d.Netns, "nft", "add table ip filter")
	nsRun(t, d.Netns, "nft", "add chain ip filter FORWARD { type filter hook forward priority 0; policy drop; }")
	d.MustLodge("image", "import", busyboxImage(t), "--alias", "busybox")
	br := uniq("lbr")
	d.MustLodge("network", "create", br)
	var n api.Network
	_, env := d.API("GET", "/1.0/networks/"+br, nil)
	_ = json.Unmarshal(env.Metadata, &n)
	gw, err := netip.ParsePrefix(n.Config["ipv4.address"])
	if err != nil || n.Config["ipv4.nat"] != "true" || !strings.HasPrefix(gw.String(), "10.") {
		t.Fatalf("auto network config: %v (%v)", n.Config, err)
	}
	if !hasLink(t, d.Netns, br) {
		t.Fatal("no bridge")
	}
	if rules := nftRuleset(t, d.Netns); !strings.Contains(rules, "masquerade") || !strings.Contains(rules, `comment "lodge_`) || !strings.Contains(rules, `:`+br+`"`) {
		t.Fatalf("rules:\n%s", rules)
	}
	d.MustLodge("profile", "device", "add", "default", "eth0", "nic", "network="+br)

	a, b := uniq("na"), uniq("nb")
	static := gw.Masked().Addr().Next().Next().Next().Next().Next().String() // .5
	launchOnNetwork(t, d, "busybox", b, br, "ipv4.address="+static)
	d.MustLodge("launch", "busybox", a)
	ipA, ipB := ipv4Of(t, d, a), ipv4Of(t, d, b)
	if ipB != static {
		t.Fatalf("static ipv4.address: got %s, want %s", ipB, static)
	}
	if ipA == ipB || !gw.Masked().Contains(netip.MustParseAddr(ipA)) {
		t.Fatalf("dynamic address %s", ipA)
	}
	// DNS: a finds b by name.
	var out string
	waitFor(t, "b to resolve as "+b+".lodge", 10*time.Second, func() bool {
		out, _, _ = d.Lodge("exec", a, "--", "nslookup", b+".lodge", gw.Addr().String())
		return strings.Contains(out, ipB)
	})
	// Containers reach each other.
	d.MustLodge("exec", a, "--", "ping", "-c", "1", "-W", "2", ipB)
	// NAT: the outside sees the host's address, not the container's.
	listenIn(t, outside, "198.51.100.2:9000")
	out = d.MustLodge("exec", a, "--", "sh", "-c", "echo | nc -w 3 198.51.100.2 9000")
	if !strings.Contains(out, "from 198.51.100.1") {
		t.Fatalf("NAT: the outside saw %q", out)
	}
	// A pinned address changed on a running instance is the one its next
	// DHCP exchange gets.
	// (Not a's: dnsmasq does not hand out an address leased to another.)
	moved := netip.MustParseAddr(static).Next()
	if moved.String() == ipA {
		moved = moved.Next()
	}
	d.MustLodge("config", "device", "set", b, "eth0", "ipv4.address="+moved.String())
	d.MustLodge("exec", b, "--", "udhcpc", "-n", "-q", "-i", "eth0")
	if out := d.MustLodge("exec", b, "--", "ip", "-4", "addr", "show", "eth0"); !strings.Contains(out, moved.String()+"/") {
		t.Fatalf("after moving the pinned address: %s", out)
	}
	d.MustLodge("config", "device", "set", b, "eth0", "ipv4.address="+static)
	d.MustLodge("exec", b, "--", "udhcpc", "-n", "-q", "-i", "eth0")
	// Addresses show in lists, through lodge and lxc.
	if out := d.MustLodge("list", "--format", "csv"); !strings.Contains(out, ipA+" (eth0)") {
		t.Fatalf("lodge list lacks %s:\n%s", ipA, out)
	}
	if out := d.MustLXC("list", a, "--format", "csv", "-c", "n4"); !strings.Contains(out, ipA) {
		t.Fatalf("lxc list lacks %s:\n%s", ipA, out)
	}
	// Leases.
	leases := d.MustLodge("network", "list-leases", br)
	if !strings.Contains(leases, a) || !strings.Contains(leases, ipB) || !strings.Contains(leases, "STATIC") {
		t.Fatalf("leases:\n%s", leases)
	}
	// Bad input leaves nothing behind.
	if _, stderr, err := d.Lodge("config", "device", "add", a, "eth1", "nic", "network="+br, "ipv4.address="+static); err == nil || !strings.Contains(stderr, "already used") {
		t.Fatalf("duplicate static address: %v %q", err, stderr)
	}
	if _, stderr, err := d.Lodge("config", "device", "add", b, "eth1", "nic", "network="+br, "ipv4.address="+ipA); err == nil || !strings.Contains(stderr, "leased to "+a) {
		t.Fatalf("pinning another instance's leased address: %v %q", err, stderr)
	}
	if _, stderr, err := d.Lodge("config", "device", "add", a, "eth1", "nic", "network="+br, "ipv4.address=192.168.250.9"); err == nil || !strings.Contains(stderr, "outside") {
		t.Fatalf("address outside the subnet: %v %q", err, stderr)
	}
	if _, stderr, err := d.Lodge("config", "device", "add", a, "eth1", "nic", "network=nope"); err == nil || !strings.Contains(stderr, "does not exist") {
		t.Fatalf("unknown network: %v %q", err, stderr)
	}
	for _, args := range [][]string{
		{"network", "create", "waytoolongbridgename"},
		{"network", "create", uniq("ov"), "ipv4.address=" + gw.String()},
		{"network", "create", uniq("iv"), "ipv4.address=10.300.0.1/24"},
		{"network", "create", uniq("hs"), "ipv4.address=198.51.100.1/30"},
	} {
		if _, stderr, err := d.Lodge(args...); err == nil {
			t.Errorf("%v accepted: %s", args, stderr)
		}
	}
	_, env = d.API("GET", "/1.0/networks?recursion=1", nil)
	var nets []api.Network
	_ = json.Unmarshal(env.Metadata, &nets)
	var managed []string
	for _, n := range nets {
		if n.Managed {
			managed = append(managed, n.Name)
		}
	}
	if len(managed) != 1 {
		t.Fatalf("refused networks were kept: %v", managed)
	}
	if links := nsRun(t, d.Netns, "ip", "-o", "link", "show", "type", "bridge"); strings.Count(links, "\n") != 1 {
		t.Fatalf("refused networks left bridges:\n%s", links)
	}
	// Live config change: NAT off, then on.
	d.MustLodge("network", "set", br, "ipv4.nat=false")
	if strings.Contains(nftRuleset(t, d.Netns), "masquerade") {
		t.Fatal("ipv4.nat=false left the masquerade rule")
	}
	d.MustLodge("network", "set", br, "ipv4.nat=true")
	// bridge.mtu applies live.
	d.MustLodge("network", "set", br, "bridge.mtu=1400")
	if out := nsRun(t, d.Netns, "ip", "link", "show", br); !strings.Contains(out, "mtu 1400") {
		t.Fatalf("bridge.mtu: %s", out)
	}
	// dnsmasq is supervised: killed, it comes back; a new lodged replaces it.
	dnsmasqPid := func() string {
		out, _ := exec.Command("pgrep", "-f", "dnsmasq.*--interface="+br).Output()
		return strings.TrimSpace(string(out))
	}
	first := dnsmasqPid()
	_ = exec.Command("kill", "-9", first).Run()
	waitFor(t, "dnsmasq to be restarted", 10*time.Second, func() bool { p := dnsmasqPid(); return p != "" && p != first })
	second := dnsmasqPid()
	d.Kill()
	d.Start()
	waitFor(t, "a new lodged to replace dnsmasq", 10*time.Second, func() bool {
		p := dnsmasqPid()
		return p != "" && p != second && !strings.Contains(p, "\n")
	})
	// In use: cannot be deleted.
	if _, stderr, err := d.Lodge("network", "delete", br); err == nil || !strings.Contains(stderr, "in use") {
		t.Fatalf("deleting a network in use: %v %q", err, stderr)
	}
	d.MustLodge("delete", "-f", a, b)
	// Deleted instances give their leases back: a's address can be pinned
	// to another at once.
	if leases := d.MustLodge("network", "list-leases", br); strings.Contains(leases, ipA+" ") || strings.Contains(leases, a) {
		t.Fatalf("a deleted instance keeps its lease:\n%s", leases)
	}
	c := uniq("nc")
	launchOnNetwork(t, d, "busybox", c, br, "ipv4.address="+ipA)
	if ipC := ipv4Of(t, d, c); ipC != ipA {
		t.Fatalf("pinned to a deleted instance's address, got %s, want %s", ipC, ipA)
	}
	d.MustLodge("delete", "-f", c)
	d.MustLodge("profile", "device", "remove", "default", "eth0")
	d.MustLodge("network", "delete", br)
	if hasLink(t, d.Netns, br) || strings.Contains(nftRuleset(t, d.Netns), "lodge") {
		t.Fatalf("network left behind: bridge %v, rules:\n%s", hasLink(t, d.Netns, br), nftRuleset(t, d.Netns))
	}
	if out, _ := exec.Command("pgrep", "-f", "dnsmasq.*"+br).CombinedOutput(); strings.TrimSpace(string(out)) != "" {
		t.Fatalf("dnsmasq left running: %s", out)
	}
}

// TestTwoDaemonsOnManagedNetworks: two lodged daemons on one host (here,
// one network namespace), each with an instance of the same name on a
// managed network with port filters: host veth names, nftables tables and
// cgroups do not collide, and one daemon's changes leave the other's rules.
func TestTwoDaemonsOnManagedNetworks(t *testing.T) {
	ns := newNetns(t, "two")
	a := startDaemonWith(t, &Daemon{t: t, Netns: ns})
	b := startDaemonWith(t, &Daemon{t: t, Netns: ns})
	name := uniq("twin")
	bridges := map[*Daemon]string{}
	for i, d := range []*Daemon{a, b} {
		d.MustLodge("image", "import", busyboxImage(t), "--alias", "busybox")
		br := uniq("tw")
		bridges[d] = br
		d.MustLodge("network", "create", br, fmt.Sprintf("ipv4.address=10.61.%d.1/24", i+1), "ipv6.address=none")
		launchOnNetwork(t, d, "busybox", name, br, "security.mac_filtering=true", "limits.connections=50")
	}
	veths := map[*Daemon]string{}
	for _, d := range []*Daemon{a, b} {
		out := nsRun(t, ns, "ip", "-o", "link", "show", "master", bridges[d])
		f := strings.Fields(out)
		if len(f) < 2 {
			t.Fatalf("no veth on %s: %q", bridges[d], out)
		}
		veths[d] = strings.TrimSuffix(strings.SplitN(f[1], "@", 2)[0], ":")
	}
	if veths[a] == veths[b] {
		t.Fatalf("both daemons named the host veth %s", veths[a])
	}
	rules := nftRuleset(t, ns)
	for _, d := range []*Daemon{a, b} {
		if !strings.Contains(rules, veths[d]) {
			t.Fatalf("the port filter of %s is missing:\n%s", veths[d], rules)
		}
	}
	if strings.Count(rules, "table inet lodge_") < 2 || strings.Count(rules, "table bridge lodge_") < 2 {
		t.Fatalf("the two daemons do not have tables of their own:\n%s", rules)
	}
	// b takes its instance and network down; a's rules stay.
	b.MustLodge("delete", "-f", name)
	b.MustLodge("network", "delete", bridges[b])
	rules = nftRuleset(t, ns)
	if !strings.Contains(rules, veths[a]) || !strings.Contains(rules, bridges[a]) {
		t.Fatalf("b's changes removed a's rules:\n%s", rules)
	}
	if out := a.MustLodge("exec", name, "--", "ip", "-o", "link", "show", "eth0"); !strings.Contains(out, "UP") {
		t.Fatalf("a's instance lost its NIC: %q", out)
	}
}

// TestP2PAndMacvlanNICs: a p2p NIC is a veth pair whose host end is on its
// own; a macvlan NIC hangs off a host interface. Both carry traffic, come
// and go live, and refuse keys that need a managed bridge.
func TestP2PAndMacvlanNICs(t *testing.T) {
	d, _ := startDaemonInNetns(t)
	d.MustLodge("image", "import", busyboxImage(t), "--alias", "busybox")
	name := uniq("p2p")
	d.MustLodge("init", "busybox", name)
	d.MustLodge("config", "device", "add", name, "eth0", "nic", "nictype=p2p")
	d.MustLodge("start", name)
	host := strings.TrimSpace(d.MustLodge("exec", name, "--", "cat", "/sys/class/net/eth0/iflink"))
	links := nsRun(t, d.Netns, "ip", "-o", "link")
	var hostEnd string
	for _, l := range strings.Split(links, "\n") {
		if strings.HasPrefix(l, host+": ") {
			hostEnd = strings.SplitN(strings.Fields(l)[1], "@", 2)[0]
		}
	}
	if hostEnd == "" || strings.Contains(nsRun(t, d.Netns, "ip", "-o", "link", "show", hostEnd), "master") {
		t.Fatalf("p2p host end %q (ifindex %s) missing or on a bridge:\n%s", hostEnd, host, links)
	}
	nsRun(t, d.Netns, "ip", "addr", "add", "10.63.0.1/30", "dev", hostEnd)
	d.MustLodge("exec", name, "--", "ip", "addr", "add", "10.63.0.2/30", "dev", "eth0")
	if out, _, err := d.Lodge("exec", name, "--", "ping", "-c", "1", "-W", "2", "10.63.0.1"); err != nil {
		t.Fatalf("ping over the p2p NIC: %v %s", err, out)
	}

	// A macvlan on an interface of lodged's namespace, whose other side is
	// a namespace of the test's.
	far := newNetns(t, "mvo")
	parent := uniq("mv")
	if out, err := exec.Command("ip", "link", "add", parent, "netns", d.Netns, "type", "veth", "peer", "name", parent+"p", "netns", far).CombinedOutput(); err != nil {
		t.Fatalf("veth: %v %s", err, out)
	}
	nsRun(t, d.Netns, "ip", "link", "set", parent, "up")
	nsRun(t, far, "ip", "addr", "add", "10.62.0.1/24", "dev", parent+"p")
	nsRun(t, far, "ip", "link", "set", parent+"p", "up")
	d.MustLodge("config", "device", "add", name, "eth1", "nic", "nictype=macvlan", "parent="+parent)
	d.MustLodge("exec", name, "--", "ip", "addr", "add", "10.62.0.2/24", "dev", "eth1")
	if out, _, err := d.Lodge("exec", name, "--", "ping", "-c", "1", "-W", "2", "10.62.0.1"); err != nil {
		t.Fatalf("ping over the macvlan NIC: %v %s", err, out)
	}
	d.MustLodge("config", "device", "remove", name, "eth1")
	if out := d.MustLodge("exec", name, "--", "ls", "/sys/class/net"); strings.Contains(out, "eth1") {
		t.Fatalf("a removed macvlan NIC is still there: %q", out)
	}
	for _, args := range [][]string{
		{"bad1", "nic", "nictype=macvlan"},
		{"bad2", "nic", "nictype=p2p", "security.mac_filtering=true"},
		{"bad3", "nic", "nictype=macvlan", "parent=" + parent, "limits.max=10Mbit"},
		{"bad4", "nic", "nictype=macvlan", "parent=nosuchif0"},
	} {
		if _, stderr, err := d.Lodge(append([]string{"config", "device", "add", name}, args...)...); err == nil || !strings.Contains(stderr, "device") {
			t.Errorf("device add %v: %v %q", args, err, stderr)
		}
	}
}

// TestBothNICForms: a NIC on a managed network as lxc 5.0.2 makes it with
// instance_nic_network (network=NET, from lxc launch -n) and as older
// clients make it (nictype=bridged, parent=NET) behave alike: pinned
// addresses, filters, used_by, and no delete of a network in use.
func TestBothNICForms(t *testing.T) {
	d, _ := startDaemonInNetns(t)
	d.MustLodge("image", "import", busyboxImage(t), "--alias", "busybox")
	br := uniq("nf")
	d.MustLodge("network", "create", br, "ipv4.address=10.64.0.1/24", "ipv6.address=none")
	viaLXC, viaParent := uniq("lxcn"), uniq("parn")
	d.MustLXC("launch", "busybox", viaLXC, "-n", br)
	if out := d.MustLXC("config", "device", "show", viaLXC); !strings.Contains(out, "network: "+br) {
		t.Fatalf("lxc launch -n made:\n%s", out)
	}
	d.MustLodge("init", "busybox", viaParent)
	// An address the other instance's DHCP lease did not take (it may).
	pinned := "10.64.0.77"
	if ipv4Of(t, d, viaLXC) == pinned {
		pinned = "10.64.0.78"
	}
	d.MustLodge("config", "device", "add", viaParent, "eth0", "nic", "nictype=bridged", "parent="+br,
		"ipv4.address="+pinned, "security.ipv4_filtering=true", "security.mac_filtering=true")
	d.MustLodge("start", viaParent)
	if ip := ipv4Of(t, d, viaParent); ip != pinned {
		t.Fatalf("a parent=%s NIC with a pinned address got %q", br, ip)
	}
	if rules := nftRuleset(t, d.Netns); !strings.Contains(rules, pinned) {
		t.Fatalf("the parent= NIC's ipv4 filter is missing:\n%s", rules)
	}
	_, env := d.API("GET", "/1.0/networks/"+br, nil)
	for _, n := range []string{viaLXC, viaParent} {
		if !strings.Contains(string(env.Metadata), `"/1.0/instances/`+n+`"`) {
			t.Errorf("used_by lacks %s: %s", n, env.Metadata)
		}
	}
	// A subnet another network uses is refused, naming that network.
	if _, stderr, err := d.LXC("network", "create", uniq("ov"), "ipv4.address=10.64.0.1/24"); err == nil || !strings.Contains(stderr, "network "+br) {
		t.Fatalf("an overlapping network: %v %q", err, stderr)
	}
	if _, stderr, err := d.LXC("network", "delete", br); err == nil || !strings.Contains(stderr, "in use") {
		t.Fatalf("a network in use was deleted: %v %q", err, stderr)
	}
	d.MustLodge("delete", "-f", viaLXC, viaParent)
	d.MustLXC("network", "delete", br)
}

// TestConcurrentNetworkCreates: creates of one network name at once give
// one network and conflicts, never a torn-down bridge or a 500.
func TestConcurrentNetworkCreates(t *testing.T) {
	d, _ := startDaemonInNetns(t)
	name := uniq("cc")
	statuses := make(chan int, 5)
	for range 5 {
		go func() {
			st, _ := d.raw("POST", "/1.0/networks", nil, []byte(`{"name":"`+name+`","config":{"ipv4.address":"10.67.0.1/24","ipv6.address":"none"}}`))
			statuses <- st
		}()
	}
	created := 0
	for range 5 {
		switch st := <-statuses; st {
		case 201, 200:
			created++
		case 409:
		default:
			t.Errorf("a contested network create answered %d", st)
		}
	}
	if created != 1 {
		t.Fatalf("%d of 5 creates of one network name succeeded", created)
	}
	if !hasLink(t, d.Netns, name) {
		t.Fatal("the created network's bridge is gone")
	}
}
