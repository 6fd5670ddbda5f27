package network

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
)

// fwNetACL is what a network's ACLs make of its boundary.
type fwNetACL struct {
	Rules []fwACLRule
	// IngressDefault and EgressDefault are the actions for what no rule
	// matches (accept, reject, drop); the Log ones mark them logged.
	IngressDefault, EgressDefault string
	IngressLog, EgressLog         bool
}

// aclChain names a network's ACL chain: its bridge's name made safe, and
// a hash of it, so that "a.b" and "a_b" never share one.
func aclChain(bridge string) string {
	h := fnv.New32a()
	h.Write([]byte(bridge))
	return fmt.Sprintf("acl_%s_%08x", chainName(bridge), h.Sum32())
}

// renderACLs writes the ACL chains of the networks that have ACLs: three
// base chains send the bridge's traffic with the host (input, output) and
// through it (forward) to the network's own chain, after the baseline
// services a network needs (DHCP, DNS, the ICMP of path MTU and neighbour
// discovery), which no rule can block.
func renderACLs(b *bytes.Buffer, nets []fwNetwork) {
	var with []fwNetwork
	for _, n := range nets {
		if n.ACL != nil {
			with = append(with, n)
		}
	}
	if len(with) == 0 {
		return
	}
	b.WriteString("  chain acl_in {\n    type filter hook input priority filter; policy accept;\n")
	for _, n := range with {
		fmt.Fprintf(b, "    iifname %q udp dport { 53, 67, 547 } accept\n    iifname %q tcp dport 53 accept\n", n.Bridge, n.Bridge)
		fmt.Fprintf(b, "    iifname %q icmp type { 3, 11, 12 } accept\n", n.Bridge)
		fmt.Fprintf(b, "    iifname %q icmpv6 type { 1, 2, 3, 4, 133, 135, 136, 143 } accept\n", n.Bridge)
		fmt.Fprintf(b, "    iifname %q jump %s\n", n.Bridge, aclChain(n.Bridge))
	}
	b.WriteString("  }\n  chain acl_out {\n    type filter hook output priority filter; policy accept;\n")
	for _, n := range with {
		fmt.Fprintf(b, "    oifname %q udp sport { 67, 547 } accept\n", n.Bridge)
		fmt.Fprintf(b, "    oifname %q icmp type { 3, 11, 12 } accept\n", n.Bridge)
		// dnsmasq pings an address before it leases it.
		fmt.Fprintf(b, "    oifname %q icmpv6 type { 1, 2, 3, 4, 128, 134, 135, 136, 143 } accept\n", n.Bridge)
		fmt.Fprintf(b, "    oifname %q jump %s\n", n.Bridge, aclChain(n.Bridge))
	}
	b.WriteString("  }\n  chain acl_fwd {\n    type filter hook forward priority filter; policy accept;\n")
	for _, n := range with {
		fmt.Fprintf(b, "    iifname %q jump %s\n    oifname %q jump %s\n", n.Bridge, aclChain(n.Bridge), n.Bridge, aclChain(n.Bridge))
	}
	b.WriteString("  }\n")
	for _, n := range with {
		fmt.Fprintf(b, "  chain %s {\n    ct state established,related accept\n", aclChain(n.Bridge))
		for _, r := range aclRuleLines(n.Bridge, n.ACL.Rules) {
			fmt.Fprintf(b, "    %s\n", r)
		}
		fmt.Fprintf(b, "    oifname %q %s%s\n", n.Bridge, logPart(n.ACL.IngressLog, "lodge_acl_default"), n.ACL.IngressDefault)
		fmt.Fprintf(b, "    iifname %q %s%s\n", n.Bridge, logPart(n.ACL.EgressLog, "lodge_acl_default"), n.ACL.EgressDefault)
		b.WriteString("  }\n")
	}
}

func logPart(on bool, prefix string) string {
	if !on {
		return ""
	}
	return fmt.Sprintf("log prefix %q ", prefix+" ")
}

// aclRuleLines renders rules: drop first, then reject, then accept,
// whichever ACL each came from; a rule whose addresses are of both
// families becomes one line per family.
func aclRuleLines(bridge string, rules []fwACLRule) []string {
	order := map[string]int{"drop": 0, "reject": 1, "accept": 2}
	sorted := append([]fwACLRule{}, rules...)
	sort.SliceStable(sorted, func(i, j int) bool { return order[sorted[i].Action] < order[sorted[j].Action] })
	var out []string
	for _, r := range sorted {
		for _, fam := range ruleFamilies(r) {
			out = append(out, aclRuleLine(bridge, r, fam))
		}
	}
	return out
}

// ruleFamilies are the families a rule is rendered for: "" (either) when
// it names no address and no ICMP version.
func ruleFamilies(r fwACLRule) []string {
	switch r.Protocol {
	case "icmp4":
		return []string{"ip"}
	case "icmp6":
		return []string{"ip6"}
	}
	if len(r.Source) == 0 && len(r.Destination) == 0 {
		return []string{""}
	}
	var out []string
	for _, fam := range []string{"ip", "ip6"} {
		// A list that names addresses must name one of this family, or
		// the rule does not apply to it.
		if (len(r.Source) == 0 || len(subjectsOf(r.Source, fam)) > 0) && (len(r.Destination) == 0 || len(subjectsOf(r.Destination, fam)) > 0) {
			out = append(out, fam)
		}
	}
	return out
}

func subjectsOf(subjects []aclSubject, fam string) []string {
	var out []string
	for _, s := range subjects {
		if s.v6 == (fam == "ip6") {
			out = append(out, s.text)
		}
	}
	return out
}

func aclRuleLine(bridge string, r fwACLRule, fam string) string {
	parts := []string{}
	if r.Ingress {
		parts = append(parts, fmt.Sprintf("oifname %q", bridge)) // from the host into the bridge
	} else {
		parts = append(parts, fmt.Sprintf("iifname %q", bridge))
	}
	if s := subjectsOf(r.Source, fam); len(s) > 0 {
		parts = append(parts, fmt.Sprintf("%s saddr { %s }", fam, strings.Join(s, ", ")))
	}
	if s := subjectsOf(r.Destination, fam); len(s) > 0 {
		parts = append(parts, fmt.Sprintf("%s daddr { %s }", fam, strings.Join(s, ", ")))
	}
	switch r.Protocol {
	case "tcp", "udp":
		parts = append(parts, "meta l4proto "+r.Protocol)
		if len(r.SourcePorts) > 0 {
			parts = append(parts, fmt.Sprintf("%s sport %s", r.Protocol, portSet(r.SourcePorts)))
		}
		if len(r.DestPorts) > 0 {
			parts = append(parts, fmt.Sprintf("%s dport %s", r.Protocol, portSet(r.DestPorts)))
		}
	case "icmp4", "icmp6":
		proto, l4 := "icmp", "icmp"
		if r.Protocol == "icmp6" {
			proto, l4 = "icmpv6", "ipv6-icmp"
		}
		parts = append(parts, "meta l4proto "+l4)
		if r.ICMPType != "" {
			parts = append(parts, fmt.Sprintf("%s type %s", proto, r.ICMPType))
			if r.ICMPCode != "" {
				parts = append(parts, fmt.Sprintf("%s code %s", proto, r.ICMPCode))
			}
		}
	}
	if r.Log != "" {
		parts = append(parts, strings.TrimSpace(logPart(true, r.Log)))
	}
	return strings.Join(append(parts, r.Action), " ")
}
