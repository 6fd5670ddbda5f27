package network

import (
	"bytes"
	"fmt"
	"strings"
)

// renderForwards writes the chains of the networks' forwards into Lodge's
// table: the same DNAT for traffic from elsewhere (prerouting) and from
// the host itself (output), port rules before the default target. Then
// a connection from the network to one of its own forwards is
// masqueraded: without it the target would answer the client directly,
// from an address the client never called.
func renderForwards(b *bytes.Buffer, nets []fwNetwork) {
	var rules, masq []string
	for _, n := range nets {
		has := map[bool]bool{}
		for _, f := range n.Forwards {
			rules = append(rules, forwardRules(f)...)
			has[f.Listen.Is4()] = true
		}
		if has[true] {
			masq = append(masq, fmt.Sprintf("ip saddr %s ip daddr %s ct status dnat masquerade", n.V4, n.V4))
		}
		if has[false] {
			masq = append(masq, fmt.Sprintf("ip6 saddr %s ip6 daddr %s ct status dnat masquerade", n.V6, n.V6))
		}
	}
	if len(rules) == 0 {
		return
	}
	for _, hook := range []struct{ name, hook string }{{"forward_pre", "prerouting"}, {"forward_out", "output"}} { // -100: dstnat, which nft names for prerouting only
		fmt.Fprintf(b, "  chain %s {\n    type nat hook %s priority -100; policy accept;\n", hook.name, hook.hook)
		for _, r := range rules {
			fmt.Fprintf(b, "    %s\n", r)
		}
		b.WriteString("  }\n")
	}
	b.WriteString("  chain forward_post {\n    type nat hook postrouting priority srcnat; policy accept;\n")
	for _, r := range masq {
		fmt.Fprintf(b, "    %s\n", r)
	}
	b.WriteString("  }\n")
}

// forwardRules are the DNAT rules of one forward.
func forwardRules(f fwForward) []string {
	fam := "ip"
	if f.Listen.Is6() {
		fam = "ip6"
	}
	host := func(t fmt.Stringer, port int) string {
		if fam == "ip6" {
			return fmt.Sprintf("[%s]:%d", t, port)
		}
		return fmt.Sprintf("%s:%d", t, port)
	}
	var out []string
	for _, p := range f.Ports {
		match := fmt.Sprintf("%s daddr %s %s dport %s", fam, f.Listen, p.Proto, portSet(p.Listen))
		switch len(p.TargetPorts) {
		case 0:
			out = append(out, fmt.Sprintf("%s dnat %s to %s", match, fam, p.Target))
		case 1:
			out = append(out, fmt.Sprintf("%s dnat %s to %s", match, fam, host(p.Target, p.TargetPorts[0])))
		default:
			pairs := make([]string, len(p.ListenPorts))
			for i, l := range p.ListenPorts {
				pairs[i] = fmt.Sprintf("%d : %d", l, p.TargetPorts[i])
			}
			out = append(out, fmt.Sprintf("%s dnat %s to %s : %s dport map { %s }", match, fam, p.Target, p.Proto, strings.Join(pairs, ", ")))
		}
	}
	if f.Default.IsValid() {
		out = append(out, fmt.Sprintf("%s daddr %s dnat %s to %s", fam, f.Listen, fam, f.Default))
	}
	return out
}

// portSet writes ranges as an nft set: { 80, 8080-8090 }.
func portSet(ranges []portRange) string {
	parts := make([]string, len(ranges))
	for i, r := range ranges {
		parts[i] = fmt.Sprint(r.first)
		if r.last != r.first {
			parts[i] += fmt.Sprintf("-%d", r.last)
		}
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}
