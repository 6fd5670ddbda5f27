// Package network manages Lodge's networks: bridges made through netlink,
// DHCP and DNS from one supervised dnsmasq per network, NAT and filtering
// in Lodge's own nftables tables.
package network

import (
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/lodge-project/lodge/internal/apierr"
)

// keys lists the network config keys and how they are checked.
var keys = map[string]func(v string) error{
	"ipv4.address":               checkAddress(4),
	"ipv4.nat":                   checkBool,
	"ipv4.dhcp":                  checkBool,
	"ipv4.dhcp.ranges":           checkRanges,
	"ipv6.address":               checkAddress(6),
	"ipv6.nat":                   checkBool,
	"ipv6.dhcp":                  checkBool,
	"ipv6.dhcp.stateful":         checkBool,
	"dns.domain":                 checkDomain,
	"bridge.mtu":                 checkMTU,
	"bridge.external_interfaces": func(string) error { return fmt.Errorf("not supported yet") },
	// Network ACLs (acl.go): their names, and the defaults for traffic no
	// rule matches.
	"security.acls":                        checkACLList,
	"security.acls.default.ingress.action": checkACLAction,
	"security.acls.default.egress.action":  checkACLAction,
	"security.acls.default.ingress.logged": checkBool,
	"security.acls.default.egress.logged":  checkBool,
	// Network zones (zones.go).
	"dns.zone.forward":      checkZoneList,
	"dns.zone.reverse.ipv4": checkZoneList,
	"dns.zone.reverse.ipv6": checkZoneList,
}

var nameRe = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// ValidateName checks a network name, which is also the bridge's name.
func ValidateName(name string) error {
	switch {
	case name == "":
		return apierr.BadRequest("network name is empty")
	case len(name) > 15:
		return apierr.BadRequest("network name %q is longer than 15 characters (it names the bridge)", name)
	case !nameRe.MatchString(name) || name == "." || name == "..":
		return apierr.BadRequest("network name %q is invalid: use letters, digits, '-', '_' and '.'", name)
	}
	return nil
}

// ValidateConfig checks keys and values (not yet against the host).
func ValidateConfig(config map[string]string) error {
	for k, v := range config {
		if strings.HasPrefix(k, "user.") {
			continue
		}
		check, ok := keys[k]
		if !ok {
			return apierr.BadRequest("unknown network config key %q", k)
		}
		if v == "" {
			continue
		}
		if err := check(v); err != nil {
			return apierr.BadRequest("network config key %q: %v", k, err)
		}
	}
	if r := config["ipv4.dhcp.ranges"]; r != "" {
		if _, p, err := parseCIDR(config["ipv4.address"]); err == nil {
			for _, rng := range strings.Split(r, ",") {
				a, b, _ := strings.Cut(rng, "-")
				for _, ip := range []string{a, b} {
					addr, _ := netip.ParseAddr(strings.TrimSpace(ip))
					if !p.Contains(addr) {
						return apierr.BadRequest("ipv4.dhcp.ranges: %s is outside %s", ip, p)
					}
				}
			}
		}
	}
	return nil
}

func checkBool(v string) error {
	switch strings.ToLower(v) {
	case "true", "false", "1", "0", "yes", "no", "on", "off":
		return nil
	}
	return fmt.Errorf("%q is not a boolean", v)
}

// IsTrue reads a boolean key with a default.
func IsTrue(config map[string]string, key string, def bool) bool {
	switch strings.ToLower(config[key]) {
	case "true", "1", "yes", "on":
		return true
	case "false", "0", "no", "off":
		return false
	}
	return def
}

func checkAddress(family int) func(string) error {
	return func(v string) error {
		if v == "auto" || v == "none" {
			return nil
		}
		addr, p, err := parseCIDR(v)
		if err != nil {
			return fmt.Errorf("%q: use auto, none or an address with its prefix length (10.0.3.1/24)", v)
		}
		if (family == 4) != addr.Is4() {
			return fmt.Errorf("%q is not an IPv%d address", v, family)
		}
		if addr == p.Masked().Addr() {
			return fmt.Errorf("%q is the network's own address: give the bridge's address, such as %s", v, p.Masked().Addr().Next())
		}
		if family == 4 && p.Bits() > 30 {
			return fmt.Errorf("%q leaves no room for instances (use /30 or larger)", v)
		}
		return nil
	}
}

// parseCIDR reads "address/len" keeping the address (netip.ParsePrefix masks nothing).
func parseCIDR(v string) (netip.Addr, netip.Prefix, error) {
	p, err := netip.ParsePrefix(v)
	if err != nil {
		return netip.Addr{}, netip.Prefix{}, err
	}
	return p.Addr(), p.Masked(), nil
}

func checkRanges(v string) error {
	for _, rng := range strings.Split(v, ",") {
		a, b, ok := strings.Cut(strings.TrimSpace(rng), "-")
		x, err1 := netip.ParseAddr(strings.TrimSpace(a))
		y, err2 := netip.ParseAddr(strings.TrimSpace(b))
		if !ok || err1 != nil || err2 != nil || !x.Is4() || !y.Is4() || y.Less(x) {
			return fmt.Errorf("%q: use FIRST-LAST[,FIRST-LAST], such as 10.0.3.50-10.0.3.150", v)
		}
	}
	return nil
}

var domainRe = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*$`)

func checkDomain(v string) error {
	if !domainRe.MatchString(v) {
		return fmt.Errorf("%q is not a domain name", v)
	}
	return nil
}

func checkMTU(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1280 || n > 65535 {
		return fmt.Errorf("%q: want 1280 to 65535", v)
	}
	return nil
}

// UsedPrefix is a subnet something already uses, and what uses it (to
// name in an error).
type UsedPrefix struct {
	Prefix netip.Prefix
	Owner  string
}

// usedPrefixes lists the prefixes on the host (addresses and routes) and
// those of other networks (others); self's own bridge does not count.
func usedPrefixes(family int, others []UsedPrefix, self string) []UsedPrefix {
	skip := -1
	if link, err := netlink.LinkByName(self); err == nil && self != "" {
		skip = link.Attrs().Index // the network's own bridge does not count
	}
	fam := netlink.FAMILY_V4
	if family == 6 {
		fam = netlink.FAMILY_V6
	}
	used := append([]UsedPrefix{}, others...)
	if routes, err := netlink.RouteList(nil, fam); err == nil {
		for _, r := range routes {
			if r.Dst != nil && r.LinkIndex != skip {
				if p, ok := toPrefix(r.Dst); ok {
					used = append(used, UsedPrefix{p, fmt.Sprintf("the host route to %s (dev %s)", p, linkName(r.LinkIndex))})
				}
			}
		}
	}
	if addrs, err := netlink.AddrList(nil, fam); err == nil {
		for _, a := range addrs {
			if a.LinkIndex == skip {
				continue
			}
			if p, ok := toPrefix(a.IPNet); ok {
				used = append(used, UsedPrefix{p.Masked(), fmt.Sprintf("the host address %s (dev %s)", p, linkName(a.LinkIndex))})
			}
		}
	}
	return used
}

func linkName(index int) string {
	if l, err := netlink.LinkByIndex(index); err == nil {
		return l.Attrs().Name
	}
	return strconv.Itoa(index)
}

func toPrefix(n *net.IPNet) (netip.Prefix, bool) {
	addr, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(addr.Unmap(), ones), true
}

// overlapping returns what in used overlaps p (nil for nothing). A default
// route overlaps everything and does not count.
func overlapping(p netip.Prefix, used []UsedPrefix) *UsedPrefix {
	for i, u := range used {
		if u.Prefix.Bits() > 0 && p.Overlaps(u.Prefix) {
			return &used[i]
		}
	}
	return nil
}

// CheckOverlap refuses a subnet that collides with the host or another
// network, naming which.
func CheckOverlap(family int, cidr string, others []UsedPrefix, self string) error {
	_, p, err := parseCIDR(cidr)
	if err != nil {
		return err
	}
	if u := overlapping(p, usedPrefixes(family, others, self)); u != nil {
		return apierr.BadRequest("subnet %s overlaps %s: pick another subnet (or auto)", p, u.Owner)
	}
	return nil
}

// AutoSubnet picks a free 10.x.y.1/24 (IPv4) or fdxx:...::1/64 (IPv6).
func AutoSubnet(family int, others []UsedPrefix) (string, error) {
	used := usedPrefixes(family, others, "")
	for i := 0; i < 1000; i++ {
		var b [8]byte
		_, _ = rand.Read(b[:])
		var p netip.Prefix
		if family == 4 {
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, b[0], b[1], 0}), 24)
		} else {
			var a [16]byte
			a[0] = 0xfd
			copy(a[1:8], b[:7])
			p = netip.PrefixFrom(netip.AddrFrom16(a), 64)
		}
		if overlapping(p, used) == nil {
			return netip.PrefixFrom(p.Addr().Next(), p.Bits()).String(), nil
		}
	}
	return "", fmt.Errorf("no free IPv%d subnet found", family)
}
