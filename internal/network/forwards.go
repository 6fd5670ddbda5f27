package network

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
)

// A network forward (LXD's network_forward) sends what arrives for one
// listen address, or for some ports of it, to addresses on the network:
// DNAT rules in Lodge's table (forward_rules.go). The forwards live in
// their network's record, keyed by listen address, so they are created,
// renamed and deleted with it in one transaction.

// fwForward is a validated forward, ready to render.
type fwForward struct {
	Listen netip.Addr
	// Default takes what no port rule matches (invalid: nothing does).
	Default netip.Addr
	Ports   []fwPorts
}

// fwPorts is one port rule: Listen as given (ranges), ListenPorts
// expanded. TargetPorts is empty (the ports are kept), one port (all go
// to it), or as many as ListenPorts (mapped in order).
type fwPorts struct {
	Proto       string
	Listen      []portRange
	ListenPorts []int
	Target      netip.Addr
	TargetPorts []int
}

type portRange struct{ first, last int }

// parseListenAddress reads a forward's listen address: one address that
// traffic from elsewhere can be sent to, in its canonical form.
func parseListenAddress(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	switch {
	case err != nil || a.Zone() != "":
		return netip.Addr{}, apierr.BadRequest("invalid listen address %q: give one IPv4 or IPv6 address", s)
	case a.Is4In6():
		return netip.Addr{}, apierr.BadRequest("invalid listen address %q: give the IPv4 address as such", s)
	case a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a.IsLinkLocalUnicast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return netip.Addr{}, apierr.BadRequest("listen address %s cannot be forwarded: it must be a unicast address that other hosts can reach", a)
	}
	return a, nil
}

// normaliseForward trims what LXD trims and writes addresses canonically,
// so that what is stored compares with what a client sends back.
func normaliseForward(f *api.NetworkForwardPut) {
	f.Description = strings.TrimSpace(f.Description)
	if f.Config == nil {
		f.Config = map[string]string{}
	}
	if a, err := netip.ParseAddr(strings.TrimSpace(f.Config["target_address"])); err == nil {
		f.Config["target_address"] = a.String()
	}
	if f.Ports == nil {
		f.Ports = []api.NetworkForwardPort{}
	}
	for i := range f.Ports {
		p := &f.Ports[i]
		p.Description = strings.TrimSpace(p.Description)
		p.Protocol = strings.TrimSpace(p.Protocol)
		p.TargetAddress = strings.TrimSpace(p.TargetAddress)
		if a, err := netip.ParseAddr(p.TargetAddress); err == nil {
			p.TargetAddress = a.String()
		}
		p.ListenPort = trimList(p.ListenPort)
		p.TargetPort = trimList(p.TargetPort)
	}
}

func trimList(s string) string {
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return strings.Join(parts, ",")
}

// compileForward validates forward f of listen on a network whose subnets
// (with the gateway address) are v4 and v6.
func compileForward(listen netip.Addr, f api.NetworkForwardPut, v4, v6 netip.Prefix) (fwForward, error) {
	subnet, family := v4, "IPv4"
	if listen.Is6() {
		subnet, family = v6, "IPv6"
	}
	if !subnet.IsValid() {
		return fwForward{}, apierr.BadRequest("the network has no %s subnet for the targets of a forward from %s", family, listen)
	}
	if listen == subnet.Addr() {
		return fwForward{}, apierr.BadRequest("listen address %s is the network's own gateway, where its instances get DHCP and DNS: it cannot be forwarded", listen)
	}
	out := fwForward{Listen: listen}
	for k := range f.Config {
		if k != "target_address" && !strings.HasPrefix(k, "user.") {
			return fwForward{}, apierr.BadRequest("invalid forward option %q: only target_address and user.* keys are known", k)
		}
	}
	if t := f.Config["target_address"]; t != "" {
		a, err := targetOn(t, subnet, family, "default target address")
		if err != nil {
			return fwForward{}, err
		}
		out.Default = a
	}
	used := map[string]map[int]bool{"tcp": {}, "udp": {}}
	for i, p := range f.Ports {
		where := fmt.Sprintf("port rule %d", i)
		if used[p.Protocol] == nil {
			return fwForward{}, apierr.BadRequest("%s: protocol %q is not tcp or udp", where, p.Protocol)
		}
		target, err := targetOn(p.TargetAddress, subnet, family, where+": target address")
		if err != nil {
			return fwForward{}, err
		}
		if target == out.Default {
			return fwForward{}, apierr.BadRequest("%s: target address %s is the default target already: a port rule names another address", where, target)
		}
		rule := fwPorts{Proto: p.Protocol, Target: target}
		if rule.Listen, err = parsePorts(p.ListenPort); err != nil {
			return fwForward{}, apierr.BadRequest("%s: listen port: %v", where, err)
		}
		if len(rule.Listen) == 0 {
			return fwForward{}, apierr.BadRequest("%s: a listen port is needed", where)
		}
		for _, r := range rule.Listen {
			for port := r.first; port <= r.last; port++ {
				if used[p.Protocol][port] {
					return fwForward{}, apierr.BadRequest("%s: %s port %d is forwarded twice", where, p.Protocol, port)
				}
				used[p.Protocol][port] = true
				rule.ListenPorts = append(rule.ListenPorts, port)
			}
		}
		targets, err := parsePorts(p.TargetPort)
		if err != nil {
			return fwForward{}, apierr.BadRequest("%s: target port: %v", where, err)
		}
		for _, r := range targets {
			for port := r.first; port <= r.last; port++ {
				rule.TargetPorts = append(rule.TargetPorts, port)
			}
		}
		if n := len(rule.TargetPorts); n > 1 && n != len(rule.ListenPorts) {
			return fwForward{}, apierr.BadRequest("%s: %d listen ports but %d target ports: give one target port, or as many as listen ports", where, len(rule.ListenPorts), n)
		}
		out.Ports = append(out.Ports, rule)
	}
	return out, nil
}

// targetOn reads a target address, which must be a host's address in
// subnet: not the subnet's own address, its gateway or its broadcast.
func targetOn(s string, subnet netip.Prefix, family, what string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.Is4In6() {
		return netip.Addr{}, apierr.BadRequest("%s %q is not an IP address", what, s)
	}
	if a.Is4() != subnet.Addr().Is4() {
		return netip.Addr{}, apierr.BadRequest("%s %s is not %s, as the listen address is: a forward does not mix families", what, a, family)
	}
	net := subnet.Masked()
	if !net.Contains(a) {
		return netip.Addr{}, apierr.BadRequest("%s %s is outside the network's subnet %s", what, a, net)
	}
	if a == net.Addr() || a == subnet.Addr() || (a.Is4() && a == lastAddr(net)) {
		return netip.Addr{}, apierr.BadRequest("%s %s is the subnet's own address, its gateway or its broadcast: give an instance's address", what, a)
	}
	return a, nil
}

// parsePorts reads "80,8080-8090" (empty: none).
func parsePorts(s string) ([]portRange, error) {
	var out []portRange
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		first, last, isRange := strings.Cut(part, "-")
		a, err := parsePort(first)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = parsePort(last); err != nil {
				return nil, err
			}
			if b < a {
				return nil, fmt.Errorf("range %q runs backwards", part)
			}
		}
		out = append(out, portRange{a, b})
	}
	return out, nil
}

func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port (1-65535)", s)
	}
	return n, nil
}
