package test

import (
	"strings"
	"testing"
	"time"
)

func TestNICFilteringAndLimits(t *testing.T) {
	d, outside := startDaemonInNetns(t)
	d.MustLodge("image", "import", busyboxImage(t), "--alias", "busybox")
	br := uniq("fbr")
	d.MustLodge("network", "create", br, "ipv4.address=10.66.0.1/24", "ipv4.nat=true")
	guarded, open := uniq("grd"), uniq("opn")
	d.MustLodge("init", "busybox", guarded)
	d.MustLodge("config", "device", "add", guarded, "eth0", "nic", "network="+br, "ipv4.address=10.66.0.10",
		"security.mac_filtering=true", "security.ipv4_filtering=true", "limits.ingress=2Mbit", "limits.egress=1Mbit", "limits.connections=2", "limits.priority=5")
	d.MustLodge("init", "busybox", open)
	d.MustLodge("config", "device", "add", open, "eth0", "nic", "network="+br, "ipv4.address=10.66.0.20")
	d.MustLodge("start", guarded, open)
	ipv4Of(t, d, guarded)
	ipv4Of(t, d, open)
	ping := func(name string, args ...string) bool {
		_, _, err := d.Lodge(append([]string{"exec", name, "--", "ping", "-c", "1", "-W", "1"}, args...)...)
		return err == nil
	}
	waitFor(t, "the guarded instance to reach the gateway", 10*time.Second, func() bool { return ping(guarded, "10.66.0.1") })
	// A second address: the open NIC may use it, the guarded one may not.
	d.MustLodge("exec", open, "--", "ip", "addr", "add", "10.66.0.21/24", "dev", "eth0")
	d.MustLodge("exec", guarded, "--", "ip", "addr", "add", "10.66.0.11/24", "dev", "eth0")
	if !ping(open, "-I", "10.66.0.21", "10.66.0.1") {
		t.Fatal("the unfiltered NIC could not use a second address")
	}
	if ping(guarded, "-I", "10.66.0.11", "10.66.0.1") {
		t.Fatal("the filtered NIC spoofed a second address")
	}
	// Nor another MAC.
	d.MustLodge("exec", guarded, "--", "ip", "link", "set", "eth0", "address", "00:16:3e:aa:bb:cc")
	if ping(guarded, "10.66.0.1") {
		t.Fatal("the filtered NIC got through with another MAC")
	}
	mac := strings.TrimSpace(d.MustLodge("config", "get", guarded, "volatile.eth0.hwaddr"))
	d.MustLodge("exec", guarded, "--", "ip", "link", "set", "eth0", "address", mac)
	waitFor(t, "the guarded instance back with its own MAC", 10*time.Second, func() bool { return ping(guarded, "10.66.0.1") })

	// limits.priority marks the NIC's packets for the host's qdiscs.
	if rules := nftRuleset(t, d.Netns); !strings.Contains(rules, "meta priority set 0:5") {
		t.Fatalf("no priority rule:\n%s", rules)
	}
	// Bandwidth: token buckets on the host side, both directions.
	veth := hostVeth(t, d, guarded)
	qd := nsRun(t, d.Netns, "tc", "-s", "qdisc", "show", "dev", veth)
	if !strings.Contains(qd, "tbf") || !strings.Contains(qd, "rate 2Mbit") || !strings.Contains(qd, "ingress") {
		t.Fatalf("qdiscs on %s:\n%s", veth, qd)
	}
	// Push more than the bucket holds towards the outside: the egress
	// shaper must have held packets back (overlimits), whatever the timing.
	listenSink(t, outside, "198.51.100.2:9001")
	d.MustLodge("exec", guarded, "--", "sh", "-c", "head -c 400000 /dev/zero | nc -w 5 198.51.100.2 9001 || true")
	ifbStats := nsRun(t, d.Netns, "tc", "-s", "qdisc", "show")
	if !hasOverlimits(ifbStats, "rate 1Mbit") {
		t.Fatalf("the egress shaper never held traffic back:\n%s", ifbStats)
	}

	// Connection limit: two held open, the third refused; the open NIC is unlimited.
	listenIn(t, outside, "198.51.100.2:9002")
	hold := func(name string, n int) string {
		script := ""
		for i := 0; i < n; i++ {
			script += "(sleep 5 | nc 198.51.100.2 9002 > /tmp/c" + string(rune('0'+i)) + " 2>&1 &); "
		}
		script += "sleep 2; cat /tmp/c*"
		out, _, _ := d.Lodge("exec", name, "--", "sh", "-c", script)
		return out
	}
	if got := strings.Count(hold(guarded, 3), "from "); got != 2 {
		t.Fatalf("limits.connections=2 let %d of 3 connections through", got)
	}
	if got := strings.Count(hold(open, 3), "from "); got != 3 {
		t.Fatalf("an unlimited NIC got %d of 3 connections", got)
	}
	// Filters go when the instance stops.
	d.MustLodge("stop", "-f", guarded)
	if rules := nftRuleset(t, d.Netns); strings.Contains(rules, "port_"+strings.ReplaceAll(veth, "-", "_")) || strings.Contains(rules, "ct count") {
		t.Fatalf("filters left after stop:\n%s", rules)
	}
}

// hostVeth finds the host end of an instance's eth0 from its MAC's peer.
func hostVeth(t *testing.T, d *Daemon, name string) string {
	t.Helper()
	out := nsRun(t, d.Netns, "ip", "-o", "link", "show", "type", "veth")
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && strings.HasPrefix(f[1], name[:10]) {
			return strings.TrimSuffix(strings.Split(f[1], "@")[0], ":")
		}
	}
	t.Fatalf("no host veth for %s:\n%s", name, out)
	return ""
}

func hasOverlimits(stats, rate string) bool {
	blocks := strings.Split(stats, "qdisc ")
	for _, b := range blocks {
		if strings.Contains(b, rate) {
			i := strings.Index(b, "overlimits ")
			if i >= 0 {
				n := strings.Fields(b[i+len("overlimits "):])[0]
				return n != "0"
			}
		}
	}
	return false
}
