package test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lodge-project/lodge/api"
)

func TestIPv6Network(t *testing.T) {
	d, _ := startDaemonInNetns(t)
	d.MustLodge("image", "import", busyboxImage(t), "--alias", "busybox")
	br := uniq("v6")
	d.MustLodge("network", "create", br, "ipv4.address=none", "ipv6.address=fd42:7:7:7::1/64", "ipv6.nat=true")
	if rules := nftRuleset(t, d.Netns); !strings.Contains(rules, "ip6 saddr fd42:7:7:7::/64") {
		t.Fatalf("no NAT66 rule:\n%s", rules)
	}
	name := uniq("six")
	launchOnNetwork(t, d, "busybox", name, br)
	waitFor(t, "a SLAAC address from the router advertisements", 90*time.Second, func() bool {
		out, _, _ := d.Lodge("exec", name, "--", "ip", "-6", "addr", "show", "eth0")
		return strings.Contains(out, "fd42:7:7:7:")
	})
	// The new address is tentative until duplicate detection is done.
	waitFor(t, "the gateway to answer over IPv6", 15*time.Second, func() bool {
		_, _, err := d.Lodge("exec", name, "--", "ping", "-6", "-c", "1", "-W", "1", "fd42:7:7:7::1")
		return err == nil
	})
	// An auto IPv6 subnet is a ULA /64.
	auto := uniq("v6a")
	d.MustLodge("network", "create", auto, "ipv6.address=auto")
	if got := strings.TrimSpace(d.MustLodge("network", "get", auto, "ipv6.address")); !strings.HasPrefix(got, "fd") || !strings.HasSuffix(got, "/64") {
		t.Fatalf("auto IPv6 address: %q", got)
	}
	if _, stderr, err := d.Lodge("network", "create", uniq("bad"), "ipv6.address=fd42:7:7:7::9/64"); err == nil || !strings.Contains(stderr, "overlaps") {
		t.Fatalf("overlapping IPv6 subnet: %v %q", err, stderr)
	}
}

// TestIPv6Pinned gives a Debian instance (systemd-networkd asks for
// DHCPv6 when the router advertises it) a pinned IPv6 address, and its
// IPv4 lease too.
func TestIPv6Pinned(t *testing.T) {
	t.Parallel()
	d, _ := startDaemonInNetns(t)
	d.MustLodge("image", "import", debianImage(t), "--alias", "debian")
	br := uniq("v6p")
	d.MustLodge("network", "create", br, "ipv4.address=10.61.0.1/24", "ipv6.address=fd42:8:8:8::1/64", "ipv6.dhcp.stateful=true")
	name := uniq("deb6")
	d.MustLodge("init", "debian", name)
	d.MustLodge("config", "device", "add", name, "eth0", "nic", "network="+br, "ipv4.address=10.61.0.40",
		"ipv6.address=fd42:8:8:8::50", "security.ipv6_filtering=true")
	if _, stderr, err := d.Lodge("config", "device", "add", name, "eth1", "nic", "network="+br, "ipv6.address=fd42:8:8:8::50"); err == nil || !strings.Contains(stderr, "already used") {
		t.Fatalf("duplicate pinned IPv6: %v %q", err, stderr)
	}
	d.MustLodge("start", name)
	waitFor(t, "the pinned addresses by DHCP and DHCPv6", 60*time.Second, func() bool {
		out, _, _ := d.Lodge("exec", name, "--", "ip", "addr", "show", "eth0")
		return strings.Contains(out, "fd42:8:8:8::50") && strings.Contains(out, "10.61.0.40")
	})
	if leases := d.MustLodge("network", "list-leases", br); !strings.Contains(leases, "10.61.0.40") {
		t.Fatalf("leases:\n%s", leases)
	}
	// The DHCPv6 lease is the NIC's: its MAC (systemd-networkd's DUID has
	// none; dnsmasq's file has the IAID in that column) and a static type.
	mac := strings.TrimSpace(d.MustLodge("config", "get", name, "volatile.eth0.hwaddr"))
	leaseOfPin := func() (api.NetworkLease, string) {
		_, env := d.API("GET", "/1.0/networks/"+br+"/leases", nil)
		var leases []api.NetworkLease
		_ = json.Unmarshal(env.Metadata, &leases)
		for _, l := range leases {
			if l.Address == "fd42:8:8:8::50" {
				return l, string(env.Metadata)
			}
		}
		return api.NetworkLease{}, string(env.Metadata)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, all := leaseOfPin()
		if strings.EqualFold(l.Hwaddr, mac) && l.Hostname == name && l.Type == "static" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the DHCPv6 lease of %s (MAC %s) is not listed as its NIC's: %s", name, mac, all)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Deleting the instance gives the lease back (a DHCPv6 RELEASE), so the
	// address can be pinned to another instance at once.
	d.MustLodge("delete", "-f", name)
	if l, all := leaseOfPin(); l.Address != "" {
		t.Fatalf("a deleted instance keeps its DHCPv6 lease: %s", all)
	}
}

// TestIPv6Filtering: with security.ipv6_filtering a NIC may use its
// SLAAC address, not another one.
func TestIPv6Filtering(t *testing.T) {
	t.Parallel()
	d, _ := startDaemonInNetns(t)
	d.MustLodge("image", "import", busyboxImage(t), "--alias", "busybox")
	br := uniq("v6f")
	d.MustLodge("network", "create", br, "ipv4.address=none", "ipv6.address=fd42:6:6:6::1/64")
	name := uniq("f6")
	launchOnNetwork(t, d, "busybox", name, br, "security.ipv6_filtering=true")
	var slaac string
	// Generous: if the instance's router solicitations go out before
	// dnsmasq listens, it waits for the next unsolicited advertisement.
	waitFor(t, "a SLAAC address", 90*time.Second, func() bool {
		out, _, _ := d.Lodge("exec", name, "--", "ip", "-6", "-o", "addr", "show", "eth0", "scope", "global")
		for _, f := range strings.Fields(out) {
			if strings.HasPrefix(f, "fd42:6:6:6:") {
				slaac = strings.Split(f, "/")[0]
				return !strings.Contains(out, "tentative")
			}
		}
		return false
	})
	ping := func(src string) bool {
		_, _, err := d.Lodge("exec", name, "--", "ping", "-6", "-c", "1", "-W", "1", "-I", src, "fd42:6:6:6::1")
		return err == nil
	}
	waitFor(t, "the gateway from the SLAAC address", 15*time.Second, func() bool { return ping(slaac) })
	d.MustLodge("exec", name, "--", "ip", "-6", "addr", "add", "fd42:6:6:6::99/64", "dev", "eth0")
	waitFor(t, "duplicate address detection of the spoofed address", 10*time.Second, func() bool {
		out, _, _ := d.Lodge("exec", name, "--", "ip", "-6", "addr", "show", "eth0")
		return strings.Contains(out, "fd42:6:6:6::99") && !strings.Contains(out, "tentative")
	})
	if ping("fd42:6:6:6::99") {
		t.Fatal("a spoofed IPv6 source got through")
	}
	if !ping(slaac) {
		t.Fatal("the NIC's own address stopped working")
	}
}
