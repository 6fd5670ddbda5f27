package network

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"sync"
)

// PortFilter is the anti-spoofing policy of one NIC, applied where its
// host-side veth enters the bridge.
type PortFilter struct {
	Veth string
	MAC  string
	// MACFilter drops frames from any other MAC; IPv4/IPv6 drop packets
	// (and ARP/ND) claiming any source address but the allowed ones.
	MACFilter, IPv4, IPv6 bool
	IPv4Addr              string       // the NIC's pinned address
	IPv6Addr              string       // the NIC's pinned IPv6 address
	IPv6Net               netip.Prefix // the network's subnet, for the SLAAC address
	// Bridge and ConnLimit: at most ConnLimit connections at once from
	// this NIC through the host (limits.connections); 0 is no limit.
	Bridge    string
	ConnLimit int
	// Priority is the skb priority given to the NIC's outgoing packets
	// (limits.priority), which priority-aware qdiscs on the host act on.
	Priority uint32
}

func (f PortFilter) active() bool {
	return f.MACFilter || f.IPv4 || f.IPv6 || f.ConnLimit > 0 || f.Priority > 0
}

// PortFilters keeps every NIC's filter and renders them as Lodge's bridge
// table, replaced as a whole in one transaction.
type PortFilters struct {
	table string // the bridge table's name (and, with _conn, the inet one's)
	mu    sync.Mutex
	ports map[string]PortFilter
}

// NewPortFilters makes an empty set kept in the named tables.
func NewPortFilters(table string) *PortFilters {
	return &PortFilters{table: table, ports: map[string]PortFilter{}}
}

// Set adds or replaces a port's filter (a filter with nothing on removes it).
func (p *PortFilters) Set(f PortFilter) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f.active() {
		p.ports[f.Veth] = f
	} else {
		delete(p.ports, f.Veth)
	}
	return nft(renderPortFilters(p.table, p.ports))
}

// Remove drops a port's filter.
func (p *PortFilters) Remove(veth string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.ports[veth]; !ok {
		return nil
	}
	delete(p.ports, veth)
	return nft(renderPortFilters(p.table, p.ports))
}

// Load replaces every filter at once (daemon start).
func (p *PortFilters) Load(filters []PortFilter) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ports = map[string]PortFilter{}
	for _, f := range filters {
		if f.active() {
			p.ports[f.Veth] = f
		}
	}
	return nft(renderPortFilters(p.table, p.ports))
}

// eui64 is the SLAAC address a MAC gets in a /64.
func eui64(prefix netip.Prefix, mac net.HardwareAddr) netip.Addr {
	a := prefix.Masked().Addr().As16()
	a[8], a[9], a[10] = mac[0]^0x02, mac[1], mac[2]
	a[11], a[12] = 0xff, 0xfe
	a[13], a[14], a[15] = mac[3], mac[4], mac[5]
	return netip.AddrFrom16(a)
}

func renderPortFilters(table string, ports map[string]PortFilter) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "table bridge %s {}\ndelete table bridge %s\n", table, table)
	b.WriteString(renderConnLimits(table+"_conn", ports))
	if len(ports) == 0 {
		return b.String()
	}
	names := make([]string, 0, len(ports))
	for n := range ports {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(&b, "table bridge %s {\n", table)
	for _, n := range names {
		f := ports[n]
		mac, _ := net.ParseMAC(f.MAC)
		fmt.Fprintf(&b, "  chain port_%s {\n", chainName(n))
		if f.Priority > 0 {
			fmt.Fprintf(&b, "    meta priority set 0:%x\n", f.Priority)
		}
		if f.MACFilter || f.IPv4 || f.IPv6 {
			fmt.Fprintf(&b, "    ether saddr != %s drop\n", f.MAC)
			fmt.Fprintf(&b, "    ether type arp arp saddr ether != %s drop\n", f.MAC)
		}
		if f.IPv4 {
			if f.IPv4Addr == "" {
				// Without a pinned address only DHCP may pass.
				b.WriteString("    ether type arp drop\n    ip saddr != 0.0.0.0 drop\n")
			} else {
				fmt.Fprintf(&b, "    ether type arp arp saddr ip != %s drop\n", f.IPv4Addr)
				fmt.Fprintf(&b, "    ip saddr != { 0.0.0.0, %s } drop\n", f.IPv4Addr)
			}
		}
		if f.IPv6 && mac != nil {
			allowed := []string{"::", eui64(netip.MustParsePrefix("fe80::/64"), mac).String()}
			if f.IPv6Net.IsValid() {
				allowed = append(allowed, eui64(f.IPv6Net, mac).String())
			}
			if f.IPv6Addr != "" {
				allowed = append(allowed, f.IPv6Addr)
			}
			fmt.Fprintf(&b, "    ip6 saddr != { %s } drop\n", joinComma(allowed))
			// Router advertisements come from routers, not instances.
			b.WriteString("    icmpv6 type nd-router-advert drop\n")
		}
		b.WriteString("  }\n")
	}
	b.WriteString("  chain prerouting {\n    type filter hook prerouting priority -200; policy accept;\n")
	for _, n := range names {
		fmt.Fprintf(&b, "    iifname %q jump port_%s\n", n, chainName(n))
	}
	b.WriteString("  }\n}\n")
	return b.String()
}

func chainName(veth string) string {
	out := []byte(veth)
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			out[i] = '_'
		}
	}
	return string(out)
}

func joinComma(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(x)
	}
	return b.String()
}

// renderConnLimits counts each limited NIC's connections where they leave
// the bridge (forwarded or to the host), by its MAC: conntrack is not
// available in the bridge family on every kernel.
func renderConnLimits(table string, ports map[string]PortFilter) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "table inet %s {}\ndelete table inet %s\n", table, table)
	var limited []PortFilter
	for _, f := range ports {
		if f.ConnLimit > 0 && f.Bridge != "" {
			limited = append(limited, f)
		}
	}
	if len(limited) == 0 {
		return b.String()
	}
	sort.Slice(limited, func(i, j int) bool { return limited[i].Veth < limited[j].Veth })
	fmt.Fprintf(&b, "table inet %s {\n", table)
	for _, hook := range []string{"forward", "input"} {
		fmt.Fprintf(&b, "  chain %s {\n    type filter hook %s priority filter - 1; policy accept;\n", hook, hook)
		for _, f := range limited {
			fmt.Fprintf(&b, "    iifname %q ether saddr %s ct state new ct count over %d reject\n", f.Bridge, f.MAC, f.ConnLimit)
		}
		b.WriteString("  }\n")
	}
	b.WriteString("}\n")
	return b.String()
}
