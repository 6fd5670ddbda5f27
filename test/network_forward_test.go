package test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lodge-project/lodge/api"
)

// serveName makes instance name answer its own name on port, so a test
// sees which instance a forward reached.
func serveName(t *testing.T, d *Daemon, name string, port int) {
	t.Helper()
	d.MustLodge("exec", name, "--", "sh", "-c", fmt.Sprintf("nc -ll -p %d -e /bin/echo %s </dev/null >/dev/null 2>&1 &", port, name))
}

// answerFrom connects from namespace ns (or, with ns "", from inside
// instance inst) to addr:port and returns what came back ("" when the
// connection failed).
func answerFrom(d *Daemon, ns, inst, addr string, port int) string {
	var out []byte
	if inst != "" {
		o, _, _ := d.Lodge("exec", inst, "--", "nc", "-w", "2", addr, fmt.Sprint(port))
		out = []byte(o)
	} else {
		out, _ = exec.Command("nsenter", "--net=/run/netns/"+ns, "busybox", "nc", "-w", "2", addr, fmt.Sprint(port)).Output()
	}
	return strings.TrimSpace(string(out))
}

// TestNetworkForwards drives network forwards (network_forward) with lxc
// 5.0.2 and lodge: a default target and port rules reached from outside,
// from the host and from the network itself; refusals; a daemon restart;
// and the rules gone with the forward and with the network.
func TestNetworkForwards(t *testing.T) {
	d, outside := startDaemonInNetns(t)
	d.MustLodge("image", "import", busyboxImage(t), "--alias", "busybox")
	br, other := uniq("fbr"), uniq("fbo")
	d.MustLodge("network", "create", br, "ipv4.address=10.56.0.1/24", "ipv4.nat=true")
	d.MustLodge("network", "create", other, "ipv4.address=10.57.0.1/24")
	web, db := uniq("fwa"), uniq("fwb")
	launchOnNetwork(t, d, "busybox", web, br, "ipv4.address=10.56.0.7")
	launchOnNetwork(t, d, "busybox", db, br, "ipv4.address=10.56.0.8")
	for _, n := range []string{web, db} {
		ipv4Of(t, d, n)
		serveName(t, d, n, 80)
	}
	const listen = "198.51.100.1" // lodged's address on the link to the outside

	// lxc: everything to web, then port 8080 to db's 80.
	d.MustLXC("network", "forward", "create", br, listen, "target_address=10.56.0.7")
	d.MustLXC("network", "forward", "port", "add", br, listen, "tcp", "8080", "10.56.0.8", "80")
	waitFor(t, "the outside to reach web through the forward", 10*time.Second, func() bool {
		return answerFrom(d, outside, "", listen, 80) == web
	})
	if got := answerFrom(d, outside, "", listen, 8080); got != db {
		t.Fatalf("port 8080 from outside reached %q, want %s", got, db)
	}
	if got := answerFrom(d, d.Netns, "", listen, 8080); got != db {
		t.Fatalf("port 8080 from the host reached %q, want %s", got, db)
	}
	if got := answerFrom(d, "", web, listen, 8080); got != db {
		t.Fatalf("port 8080 from web, on the same network, reached %q, want %s", got, db)
	}
	out := d.MustLXC("network", "forward", "list", br, "--format", "csv")
	if !strings.Contains(out, listen+",,10.56.0.7,1") {
		t.Fatalf("lxc network forward list:\n%s", out)
	}
	out = d.MustLXC("network", "forward", "show", br, listen)
	if !strings.Contains(out, "listen_port: \"8080\"") || !strings.Contains(out, "target_address: 10.56.0.8") {
		t.Fatalf("lxc network forward show:\n%s", out)
	}

	// lodge: two more ports to db's 80 (many to one), by YAML too.
	d.MustLodge("network", "forward", "port", "add", br, listen, "tcp", "9000-9001", "10.56.0.8", "80", "--description", "two to one")
	if got := answerFrom(d, outside, "", listen, 9001); got != db {
		t.Fatalf("port 9001 reached %q, want %s", got, db)
	}
	yaml := d.MustLodge("network", "forward", "show", br, listen)
	if !strings.Contains(yaml, "description: two to one") {
		t.Fatalf("lodge network forward show:\n%s", yaml)
	}
	edited := "description: edited\nconfig:\n  target_address: 10.56.0.8\nports: []\n"
	if _, stderr, err := run(d.lxcEnv(), edited, "lxc", "network", "forward", "edit", br, listen); err != nil {
		t.Fatalf("lxc network forward edit: %v %s", err, stderr)
	}
	if got := answerFrom(d, outside, "", listen, 80); got != db {
		t.Fatalf("after the edit port 80 reached %q, want %s", got, db)
	}
	if desc := d.MustLodge("network", "forward", "get", br, listen, "target_address"); strings.TrimSpace(desc) != "10.56.0.8" {
		t.Fatalf("lodge network forward get: %q", desc)
	}

	// Refusals, each with what to fix, and nothing changed by them.
	before := nftRuleset(t, d.Netns)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"create", br, listen}, "already"},
		{[]string{"create", br, "10.57.0.9"}, "network " + other},
		{[]string{"create", br, "10.56.0.1"}, "gateway"},
		{[]string{"create", br, "0.0.0.0"}, "unicast address"},
		{[]string{"create", br, "192.0.2.1", "target_address=10.57.0.5"}, "outside the network's subnet"},
		{[]string{"create", br, "192.0.2.1", "target=10.56.0.5"}, "invalid forward option"},
		{[]string{"port", "add", br, listen, "tcp", "70000", "10.56.0.7"}, "not a port"},
		{[]string{"port", "add", br, listen, "tcp", "80-82", "10.56.0.7", "80-81"}, "3 listen ports but 2 target ports"},
		{[]string{"port", "add", br, listen, "sctp", "80", "10.56.0.7"}, "not tcp or udp"},
		{[]string{"create", other, listen}, "forward of " + listen + " on network " + br},
	} {
		_, stderr, err := d.LXC(append([]string{"network", "forward"}, c.args...)...)
		if err == nil || !strings.Contains(stderr, c.want) {
			t.Errorf("lxc network forward %v: %v %q, want an error with %q", c.args, err, stderr, c.want)
		}
	}
	if after := nftRuleset(t, d.Netns); after != before {
		t.Fatalf("a refused change touched the rules:\n%s\n----\n%s", before, after)
	}
	// A network whose subnet would take another network's listen address.
	d.MustLodge("network", "forward", "create", br, "192.0.2.50")
	before = nftRuleset(t, d.Netns)
	if _, stderr, err := d.Lodge("network", "set", other, "ipv4.address=192.0.2.1/24"); err == nil || !strings.Contains(stderr, "forward of 192.0.2.50 on network "+br) {
		t.Fatalf("a subnet over another network's forward: %v %q", err, stderr)
	}
	if after := nftRuleset(t, d.Netns); after != before {
		t.Fatalf("a refused change touched the rules:\n%s\n----\n%s", before, after)
	}
	// A proxy device's NAT on a port the forward takes.
	if _, stderr, err := d.Lodge("config", "device", "add", web, "clash", "proxy", "listen=tcp:"+listen+":80", "connect=tcp:10.56.0.7:80", "nat=true"); err == nil || !strings.Contains(stderr, "network forward") {
		t.Fatalf("a proxy NAT on a forwarded port: %v %q", err, stderr)
	}
	// A stale ETag is refused.
	etag := d.ETag("/1.0/networks/" + br + "/forwards/" + listen)
	d.MustLodge("network", "forward", "set", br, listen, "user.note=x")
	if code := mustRequest(t, d, "PUT", "/1.0/networks/"+br+"/forwards/"+listen, `{"config":{}}`, etag); code != http.StatusPreconditionFailed {
		t.Fatalf("PUT with a stale ETag: %d", code)
	}
	// A restricted project may not take the host's addresses.
	d.MustLodge("project", "create", "fwp", "-c", "restricted=true", "-c", "features.networks=false")
	if code, env := d.API("POST", "/1.0/networks/"+br+"/forwards?project=fwp", api.NetworkForwardsPost{ListenAddress: "192.0.2.7"}); code != http.StatusForbidden {
		t.Fatalf("a restricted project's forward: %d %s", code, env.Error)
	}

	// The rules come back with the daemon; the instances ran on.
	d.Stop()
	d.Start()
	waitFor(t, "the forward after a daemon restart", 10*time.Second, func() bool {
		return answerFrom(d, outside, "", listen, 80) == db
	})

	d.MustLXC("network", "forward", "delete", br, listen)
	if rules := nftRuleset(t, d.Netns); strings.Contains(rules, "forward_pre") {
		t.Fatalf("rules left after the forward was deleted:\n%s", rules)
	}
	if got := answerFrom(d, outside, "", listen, 80); got == web || got == db {
		t.Fatalf("the deleted forward still reaches %s", got)
	}

	// A network goes with its forwards.
	d.MustLodge("network", "forward", "create", other, "192.0.2.9")
	d.MustLodge("network", "delete", other)
	if rules := nftRuleset(t, d.Netns); strings.Contains(rules, "192.0.2.9") {
		t.Fatalf("rules left after the network was deleted:\n%s", rules)
	}
}

// TestNetworkForwardsIPv6 forwards a port of an IPv6 address to a host on
// an IPv6-only bridge (a namespace plugged into it, listening in the
// test), which sees the caller's own address: no masquerade from outside.
func TestNetworkForwardsIPv6(t *testing.T) {
	d, outside := startDaemonInNetns(t)
	linkNetns(t, d.Netns, outside, "2001:db8:5::1/64", "2001:db8:5::2/64")
	br := uniq("fb6")
	d.MustLodge("network", "create", br, "ipv4.address=none", "ipv6.address=fd42:9:9:9::1/64")
	// A host on the bridge: a namespace with a veth whose peer is a port.
	tgt := newNetns(t, "f6t")
	veth := uniq("f6v")
	nsRun(t, d.Netns, "ip", "link", "add", veth, "type", "veth", "peer", "name", veth+"p", "netns", tgt)
	nsRun(t, d.Netns, "ip", "link", "set", veth, "master", br, "up")
	nsRun(t, tgt, "ip", "addr", "add", "fd42:9:9:9::50/64", "dev", veth+"p", "nodad")
	nsRun(t, tgt, "ip", "link", "set", veth+"p", "up")
	nsRun(t, tgt, "ip", "-6", "route", "add", "default", "via", "fd42:9:9:9::1")
	listenIn(t, tgt, "[fd42:9:9:9::50]:80")

	d.MustLXC("network", "forward", "create", br, "2001:DB8:5::1")
	d.MustLodge("network", "forward", "port", "add", br, "2001:db8:5::1", "tcp", "8080", "fd42:9:9:9::50", "80")
	if out := d.MustLXC("network", "forward", "list", br, "--format", "csv"); !strings.Contains(out, "2001:db8:5::1,,,1") {
		t.Fatalf("the listen address is not kept in its canonical form:\n%s", out)
	}
	var got string
	waitFor(t, "the outside to reach the target over IPv6", 15*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := dialIn(outside)(ctx, "tcp", "[2001:db8:5::1]:8080")
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		got, _ = bufio.NewReader(c).ReadString('\n')
		return got != ""
	})
	if strings.TrimSpace(got) != "from 2001:db8:5::2" {
		t.Fatalf("the target saw %q, want the caller's own address", got)
	}
	if _, stderr, err := d.Lodge("network", "forward", "port", "add", br, "2001:db8:5::1", "tcp", "8081", "10.0.0.5"); err == nil || !strings.Contains(stderr, "mix families") {
		t.Fatalf("an IPv4 target for an IPv6 forward: %v %q", err, stderr)
	}
}
