package dnszone

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Host is an instance's address on a network: its name is the
// instance's, never what its DHCP client claimed.
type Host struct {
	Name string
	Addr netip.Addr
}

// Network is what a zone takes from one network that names it.
type Network struct {
	Name       string
	NAT4, NAT6 bool
	Gateways   []netip.Addr
	Hosts      []Host
	// ForwardZones are the network's dns.zone.forward zones, which a
	// reverse zone's PTR records point into.
	ForwardZones []string
}

const defaultTTL = 300

// content is zone z's records, the SOA first: NS for dns.nameservers;
// for a forward zone A and AAAA records of each network's hosts and of
// its gateway (NETWORK.gw); for a reverse zone their PTR records, into
// each forward zone of the network; then the zone's own records.
// network.nat=false leaves out the families a network NATs.
func content(z Record, nets []Network, extra []EntryRecord, serial uint32) ([]dns.RR, error) {
	origin := z.Name + "."
	ns := nameservers(z.Config["dns.nameservers"])
	mname := "hostmaster." + origin
	if len(ns) > 0 {
		mname = dns.Fqdn(ns[0])
	}
	soa := &dns.SOA{Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 3600},
		Ns: mname, Mbox: "hostmaster." + origin, Serial: serial, Refresh: 120, Retry: 60, Expire: 86400, Minttl: 30}
	out := []dns.RR{soa}
	for _, n := range ns {
		out = append(out, &dns.NS{Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: defaultTTL}, Ns: dns.Fqdn(n)})
	}
	includeNAT := true
	if v, err := strconv.ParseBool(z.Config["network.nat"]); err == nil {
		includeNAT = v
	}
	reverse4, reverse6 := strings.HasSuffix(origin, ".in-addr.arpa."), strings.HasSuffix(origin, ".ip6.arpa.")
	var generated []dns.RR
	for _, n := range nets {
		hosts := append([]Host{}, n.Hosts...)
		for _, gw := range n.Gateways {
			hosts = append(hosts, Host{Name: n.Name + ".gw", Addr: gw})
		}
		for _, h := range hosts {
			if (h.Addr.Is4() && n.NAT4 && !includeNAT) || (h.Addr.Is6() && n.NAT6 && !includeNAT) {
				continue
			}
			switch {
			case reverse4 || reverse6:
				if h.Addr.Is4() != reverse4 {
					continue
				}
				ptr, err := dns.ReverseAddr(h.Addr.String())
				if err != nil || !dns.IsSubDomain(origin, ptr) {
					continue // outside this reverse zone
				}
				for _, fwd := range n.ForwardZones {
					generated = append(generated, &dns.PTR{Hdr: dns.RR_Header{Name: ptr, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: defaultTTL},
						Ptr: h.Name + "." + dns.Fqdn(fwd)})
				}
			case h.Addr.Is4():
				generated = append(generated, &dns.A{Hdr: dns.RR_Header{Name: h.Name + "." + origin, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: defaultTTL}, A: h.Addr.AsSlice()})
			default:
				generated = append(generated, &dns.AAAA{Hdr: dns.RR_Header{Name: h.Name + "." + origin, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: defaultTTL}, AAAA: h.Addr.AsSlice()})
			}
		}
	}
	sort.SliceStable(generated, func(i, j int) bool { return generated[i].String() < generated[j].String() })
	out = append(out, generated...)
	for _, r := range extra {
		for _, e := range r.Entries {
			rr, err := entryRR(z.Name, r.Name, e)
			if err != nil {
				return nil, fmt.Errorf("record %q: %w", r.Name, err)
			}
			out = append(out, rr)
		}
	}
	return out, nil
}
