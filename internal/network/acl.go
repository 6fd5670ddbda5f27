package network

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
)

// Network ACLs (LXD's network_acl, on bridges as network_bridge_acl):
// named lists of ingress and egress rules that a network takes in its
// security.acls. As in LXD they filter at the bridge's boundary with the
// host: what enters the bridge from the host or elsewhere (ingress) and
// what leaves it for them (egress), not traffic between its instances.
// Rules apply drop first, then reject, then allow, whichever ACL they
// come from; what none matches gets the network's default action
// (security.acls.default.{ingress,egress}.action, reject by default).
// Replies to allowed connections pass, and DHCP, DNS and the ICMP that
// keeps a network working reach the host before any rule.

var aclNameRe = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]{0,62}$`)

// ValidateACLName checks an ACL name as LXD does: 1 to 63 letters,
// digits and dashes, starting with a letter, not ending with a dash.
func ValidateACLName(name string) error {
	if !aclNameRe.MatchString(name) || strings.HasSuffix(name, "-") {
		return apierr.BadRequest("network ACL name %q is invalid: 1 to 63 letters, digits and dashes, starting with a letter and not ending with a dash", name)
	}
	return nil
}

// fwACLRule is a validated rule, ready to render.
type fwACLRule struct {
	Ingress     bool
	Action      string // accept, reject or drop
	Log         string // the log prefix of a logged rule ("" when not)
	Source      []aclSubject
	Destination []aclSubject
	Protocol    string // "", tcp, udp, icmp4, icmp6
	SourcePorts []portRange
	DestPorts   []portRange
	ICMPType    string
	ICMPCode    string
}

// aclSubject is an address, a CIDR or a range of one family.
type aclSubject struct {
	text string
	v6   bool
}

// normaliseACL fills in what LXD fills in, so that what is stored
// compares with what a client sends back.
func normaliseACL(a *api.NetworkACLPut) {
	a.Description = strings.TrimSpace(a.Description)
	if a.Config == nil {
		a.Config = map[string]string{}
	}
	for _, rules := range []*[]api.NetworkACLRule{&a.Ingress, &a.Egress} {
		if *rules == nil {
			*rules = []api.NetworkACLRule{}
		}
		for i := range *rules {
			r := &(*rules)[i]
			if r.State == "" {
				r.State = "enabled"
			}
			r.Source, r.Destination = trimList(r.Source), trimList(r.Destination)
			r.SourcePort, r.DestinationPort = trimList(r.SourcePort), trimList(r.DestinationPort)
			r.ICMPType, r.ICMPCode = strings.TrimSpace(r.ICMPType), strings.TrimSpace(r.ICMPCode)
		}
	}
}

// compileACL validates ACL name's rules (normalised) and turns the
// enabled and logged ones into rules to render.
func compileACL(name string, a api.NetworkACLPut) ([]fwACLRule, error) {
	for k := range a.Config {
		if !strings.HasPrefix(k, "user.") {
			return nil, apierr.BadRequest("invalid network ACL option %q: only user.* keys are known", k)
		}
	}
	var out []fwACLRule
	for _, dir := range []struct {
		name  string
		rules []api.NetworkACLRule
	}{{"ingress", a.Ingress}, {"egress", a.Egress}} {
		for i, r := range dir.rules {
			fr, err := compileACLRule(r, dir.name == "ingress")
			if err != nil {
				return nil, apierr.BadRequest("%s rule %d: %v", dir.name, i, err)
			}
			switch r.State {
			case "disabled":
				continue
			case "logged":
				fr.Log = "lodge_acl_" + name
			}
			out = append(out, fr)
		}
	}
	return out, nil
}

func compileACLRule(r api.NetworkACLRule, ingress bool) (fwACLRule, error) {
	out := fwACLRule{Ingress: ingress, Protocol: r.Protocol, ICMPType: r.ICMPType, ICMPCode: r.ICMPCode}
	switch r.Action {
	case "allow":
		out.Action = "accept"
	case "reject", "drop":
		out.Action = r.Action
	default:
		return out, fmt.Errorf("action %q is not allow, reject or drop", r.Action)
	}
	switch r.State {
	case "enabled", "disabled", "logged":
	default:
		return out, fmt.Errorf("state %q is not enabled, disabled or logged", r.State)
	}
	var err error
	if out.Source, err = parseSubjects(r.Source); err != nil {
		return out, fmt.Errorf("source: %v", err)
	}
	if out.Destination, err = parseSubjects(r.Destination); err != nil {
		return out, fmt.Errorf("destination: %v", err)
	}
	switch r.Protocol {
	case "tcp", "udp":
		if r.ICMPType != "" || r.ICMPCode != "" {
			return out, fmt.Errorf("icmp_type and icmp_code are for icmp4 and icmp6, not %s", r.Protocol)
		}
		if out.SourcePorts, err = parsePorts(r.SourcePort); err != nil {
			return out, fmt.Errorf("source_port: %v", err)
		}
		if out.DestPorts, err = parsePorts(r.DestinationPort); err != nil {
			return out, fmt.Errorf("destination_port: %v", err)
		}
	case "icmp4", "icmp6":
		if r.SourcePort != "" || r.DestinationPort != "" {
			return out, fmt.Errorf("ports are for tcp and udp, not %s", r.Protocol)
		}
		for _, s := range append(append([]aclSubject{}, out.Source...), out.Destination...) {
			if s.v6 != (r.Protocol == "icmp6") {
				return out, fmt.Errorf("%s does not go with the address %s", r.Protocol, s.text)
			}
		}
		for what, v := range map[string]string{"icmp_type": r.ICMPType, "icmp_code": r.ICMPCode} {
			if n, err := strconv.Atoi(v); v != "" && (err != nil || n < 0 || n > 255) {
				return out, fmt.Errorf("%s %q is not a number from 0 to 255", what, v)
			}
		}
		if r.ICMPCode != "" && r.ICMPType == "" {
			return out, fmt.Errorf("an icmp_code needs its icmp_type")
		}
	case "":
		if r.SourcePort != "" || r.DestinationPort != "" || r.ICMPType != "" || r.ICMPCode != "" {
			return out, fmt.Errorf("ports need protocol tcp or udp, and ICMP types icmp4 or icmp6")
		}
	default:
		return out, fmt.Errorf("protocol %q is not icmp4, icmp6, tcp or udp", r.Protocol)
	}
	return out, nil
}

// parseSubjects reads a comma list of addresses, CIDRs and ranges.
func parseSubjects(s string) ([]aclSubject, error) {
	if s == "" {
		return nil, nil
	}
	var out []aclSubject
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if a, b, isRange := strings.Cut(part, "-"); isRange {
			first, err1 := netip.ParseAddr(a)
			last, err2 := netip.ParseAddr(b)
			if err1 != nil || err2 != nil || first.Is4() != last.Is4() || last.Less(first) || first.Zone() != "" || last.Zone() != "" {
				return nil, fmt.Errorf("%q is not a range of addresses (first-last, one family)", part)
			}
			out = append(out, aclSubject{first.String() + "-" + last.String(), first.Is6()})
			continue
		}
		if p, err := netip.ParsePrefix(part); err == nil {
			out = append(out, aclSubject{p.Masked().String(), p.Addr().Is6()})
			continue
		}
		if a, err := netip.ParseAddr(part); err == nil && a.Zone() == "" {
			out = append(out, aclSubject{a.String(), a.Is6()})
			continue
		}
		if strings.HasPrefix(part, "@") || aclNameRe.MatchString(part) {
			return nil, fmt.Errorf("%q: Lodge's bridges filter by address: give addresses, CIDRs or ranges (ACL groups and @internal/@external select OVN ports, which Lodge does not have)", part)
		}
		return nil, fmt.Errorf("%q is not an address, a CIDR or a range", part)
	}
	return out, nil
}

// aclDefaultAction reads a network's default action for a direction
// (ingress, egress): reject unless set.
func aclDefaultAction(config map[string]string, dir string) string {
	switch config["security.acls.default."+dir+".action"] {
	case "allow":
		return "accept"
	case "drop":
		return "drop"
	}
	return "reject"
}

func checkACLAction(v string) error {
	switch v {
	case "allow", "reject", "drop":
		return nil
	}
	return fmt.Errorf("%q is not allow, reject or drop", v)
}

// aclNames splits a security.acls value.
func aclNames(v string) []string {
	var out []string
	for _, n := range strings.Split(v, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

func checkACLList(v string) error {
	for _, n := range aclNames(v) {
		if err := ValidateACLName(n); err != nil {
			return err
		}
	}
	return nil
}
