package network

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
)

// fwNetwork is what the firewall needs to know of one network.
type fwNetwork struct {
	Bridge     string
	V4, V6     netip.Prefix // zero when the family is off
	NAT4, NAT6 bool
	Forwards   []fwForward
	ACL        *fwNetACL // nil: no security.acls
}

// nft runs an nft script in one transaction.
func nft(script string) error {
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("nft: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// rulesetFor renders Lodge's own table: NAT for the networks that want it,
// forwarding accepted to and from every bridge, DHCP and DNS accepted on
// them. The whole table is replaced in one transaction, so it never holds
// half a change.
// ProxyNAT is a proxy device done with DNAT: traffic to the listen
// address and port goes to the instance's address and port.
type ProxyNAT struct {
	Proto      string // tcp or udp
	ListenAddr string // "" or 0.0.0.0 for any
	ListenPort int
	TargetAddr string
	TargetPort int
}

func rulesetFor(table string, nets []fwNetwork, nats []ProxyNAT) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "table inet %s {}\ndelete table inet %s\n", table, table)
	if len(nets) == 0 && len(nats) == 0 {
		return b.String()
	}
	sort.Slice(nets, func(i, j int) bool { return nets[i].Bridge < nets[j].Bridge })
	fmt.Fprintf(&b, "table inet %s {\n", table)
	b.WriteString("  chain forward {\n    type filter hook forward priority filter; policy accept;\n")
	for _, n := range nets {
		fmt.Fprintf(&b, "    iifname %q accept\n    oifname %q accept\n", n.Bridge, n.Bridge)
	}
	b.WriteString("  }\n")
	b.WriteString("  chain input {\n    type filter hook input priority filter; policy accept;\n")
	for _, n := range nets {
		fmt.Fprintf(&b, "    iifname %q udp dport { 53, 67, 547 } accept\n    iifname %q tcp dport 53 accept\n", n.Bridge, n.Bridge)
	}
	b.WriteString("  }\n")
	b.WriteString("  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n")
	for _, n := range nets {
		if n.NAT4 && n.V4.IsValid() {
			fmt.Fprintf(&b, "    ip saddr %s ip daddr != %s masquerade\n", n.V4, n.V4)
		}
		if n.NAT6 && n.V6.IsValid() {
			fmt.Fprintf(&b, "    ip6 saddr %s ip6 daddr != %s masquerade\n", n.V6, n.V6)
		}
	}
	b.WriteString("  }\n")
	if len(nats) > 0 {
		// The same DNAT for traffic from outside (prerouting) and from the
		// host itself (output).
		for _, hook := range []struct{ name, hook string }{{"proxy_pre", "prerouting"}, {"proxy_out", "output"}} { // priority -100: dstnat
			fmt.Fprintf(&b, "  chain %s {\n    type nat hook %s priority -100; policy accept;\n", hook.name, hook.hook)
			for _, n := range nats {
				match := ""
				if n.ListenAddr != "" && n.ListenAddr != "0.0.0.0" {
					match = "ip daddr " + n.ListenAddr + " "
				}
				fmt.Fprintf(&b, "    %s%s dport %d dnat ip to %s:%d\n", match, n.Proto, n.ListenPort, n.TargetAddr, n.TargetPort)
			}
			b.WriteString("  }\n")
		}
		// Replies to the host's own connections leave through the bridge
		// with the host's loopback source unless it is rewritten.
		b.WriteString("  chain proxy_post {\n    type nat hook postrouting priority srcnat; policy accept;\n")
		for _, n := range nats {
			fmt.Fprintf(&b, "    ip saddr 127.0.0.0/8 ip daddr %s %s dport %d masquerade\n", n.TargetAddr, n.Proto, n.TargetPort)
		}
		b.WriteString("  }\n")
	}
	renderForwards(&b, nets)
	renderACLs(&b, nets)
	b.WriteString("}\n")
	return b.String()
}

// applyFirewall replaces Lodge's table and keeps forwarding working where
// another firewall (Docker's) set the FORWARD policy to drop.
func applyFirewall(table string, nets []fwNetwork, nats []ProxyNAT) error {
	if err := nft(rulesetFor(table, nets, nats)); err != nil {
		return err
	}
	return foreignForward(table, nets)
}

// forwardComment matches the marks of one daemon's rules: its table's
// name, so that two daemons on a host never remove each other's.
func forwardComment(table string) *regexp.Regexp {
	return regexp.MustCompile(`comment "` + regexp.QuoteMeta(table) + `:([^"]+)" # handle (\d+)`)
}

// foreignForward handles `ip filter FORWARD` with policy drop (what Docker
// and iptables-nft leave): an accept in our own table cannot overrule a
// drop in another table's chain on the same hook, so two marked accept
// rules per bridge go at the top of that chain, and go again with the
// network. It is the one place Lodge touches a table it does not own.
func foreignForward(table string, nets []fwNetwork) error {
	out, err := exec.Command("nft", "-a", "list", "chain", "ip", "filter", "FORWARD").CombinedOutput()
	if err != nil {
		return nil // no such chain: nothing to coexist with
	}
	want := map[string]bool{}
	for _, n := range nets {
		want[n.Bridge] = true
	}
	have := map[string]bool{}
	var script bytes.Buffer
	for _, m := range forwardComment(table).FindAllStringSubmatch(string(out), -1) {
		if !want[m[1]] {
			fmt.Fprintf(&script, "delete rule ip filter FORWARD handle %s\n", m[2])
		}
		have[m[1]] = true
	}
	dropPolicy := strings.Contains(string(out), "policy drop")
	for br := range want {
		if !have[br] && dropPolicy {
			fmt.Fprintf(&script, "insert rule ip filter FORWARD iifname %q accept comment \"%s:%s\"\n", br, table, br)
			fmt.Fprintf(&script, "insert rule ip filter FORWARD oifname %q accept comment \"%s:%s\"\n", br, table, br)
		}
	}
	if script.Len() == 0 {
		return nil
	}
	return nft(script.String())
}

// enableForwarding turns on IP forwarding for the families in use.
func enableForwarding(v4, v6 bool) error {
	if v4 {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
			return fmt.Errorf("enable IPv4 forwarding: %w", err)
		}
	}
	if v6 {
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/all/forwarding", []byte("1"), 0o644); err != nil {
			return fmt.Errorf("enable IPv6 forwarding: %w", err)
		}
	}
	return nil
}
