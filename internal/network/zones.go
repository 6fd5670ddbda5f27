package network

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/dnszone"
	"github.com/lodge-project/lodge/internal/project"
)

// A network names the zones that hold its instances' records in
// dns.zone.forward (a comma list), dns.zone.reverse.ipv4 and
// dns.zone.reverse.ipv6 (package dnszone).

var zoneKeys = []string{"dns.zone.forward", "dns.zone.reverse.ipv4", "dns.zone.reverse.ipv6"}

func zoneNames(cfg map[string]string) []string {
	var out []string
	for _, k := range zoneKeys {
		for _, z := range strings.Split(cfg[k], ",") {
			if z = strings.TrimSpace(z); z != "" {
				out = append(out, z)
			}
		}
	}
	return out
}

func checkZoneList(v string) error {
	for _, z := range strings.Split(v, ",") {
		if err := dnszone.ValidateName(strings.TrimSpace(z)); err != nil {
			return err
		}
	}
	return nil
}

// checkZonesExist refuses a network config naming a zone its project
// lacks.
func (s *Service) checkZonesExist(proj string, cfg map[string]string) error {
	for _, z := range zoneNames(cfg) {
		if s.Zones == nil || !s.Zones.Exists(proj, z) {
			return apierr.BadRequest("there is no network zone %q in project %q (lodge network zone create %s)", z, project.Name(proj), z)
		}
	}
	return nil
}

// ZoneUsers are the API paths of the networks naming zone.
func (s *Service) ZoneUsers(zone string) []string {
	recs, _ := s.records()
	var out []string
	for _, r := range recs {
		if slices.Contains(zoneNames(r.Config), zone) {
			out = append(out, project.URL(project.Name(r.Project), "/1.0/networks/"+r.Name))
		}
	}
	return out
}

// ZoneNetworks are the networks naming zone, with their gateways and
// their instances' addresses: pinned ones, and leases matched to a NIC by
// its MAC, named after the instance (a DHCP client's own hostname could
// be anything).
func (s *Service) ZoneNetworks(zone string) []dnszone.Network {
	recs, _ := s.records()
	var out []dnszone.Network
	for _, r := range recs {
		if !slices.Contains(zoneNames(r.Config), zone) {
			continue
		}
		n := dnszone.Network{Name: r.Name, NAT4: IsTrue(r.Config, "ipv4.nat", false), NAT6: IsTrue(r.Config, "ipv6.nat", false)}
		for _, z := range strings.Split(r.Config["dns.zone.forward"], ",") {
			if z = strings.TrimSpace(z); z != "" {
				n.ForwardZones = append(n.ForwardZones, z)
			}
		}
		for _, fam := range []int{4, 6} {
			if p := r.prefix(fam); p.IsValid() {
				n.Gateways = append(n.Gateways, p.Addr())
			}
		}
		leases := s.dnsmasqFor(r.Name).leases()
		for _, nic := range s.NICs(r.Name) {
			seen := map[netip.Addr]bool{}
			add := func(addr string) {
				if a, err := netip.ParseAddr(addr); err == nil && !seen[a] {
					seen[a] = true
					n.Hosts = append(n.Hosts, dnszone.Host{Name: nic.Instance, Addr: a})
				}
			}
			add(nic.IPv4)
			add(nic.IPv6)
			for _, l := range leases {
				if l.Hwaddr != "" && strings.EqualFold(l.Hwaddr, nic.MAC) {
					add(l.Address)
				}
			}
		}
		out = append(out, n)
	}
	return out
}
