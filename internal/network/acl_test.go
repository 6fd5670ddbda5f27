package network

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/lodge-project/lodge/api"
)

func TestACLNames(t *testing.T) {
	for _, good := range []string{"web", "a", "web-2", strings.Repeat("a", 63)} {
		if err := ValidateACLName(good); err != nil {
			t.Errorf("%q refused: %v", good, err)
		}
	}
	for _, bad := range []string{"", "2web", "-web", "web-", "we_b", "we.b", strings.Repeat("a", 64), "@internal"} {
		if err := ValidateACLName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestACLValidation(t *testing.T) {
	rule := func(r api.NetworkACLRule) api.NetworkACLPut {
		a := api.NetworkACLPut{Ingress: []api.NetworkACLRule{r}}
		normaliseACL(&a)
		return a
	}
	for _, c := range []struct {
		name string
		r    api.NetworkACLRule
		want string
	}{
		{"allow all", api.NetworkACLRule{Action: "allow"}, ""},
		{"tcp ports", api.NetworkACLRule{Action: "allow", Protocol: "tcp", DestinationPort: "80, 443,8000-8010", SourcePort: "1024-65535"}, ""},
		{"subjects", api.NetworkACLRule{Action: "drop", Source: "192.0.2.0/24,198.51.100.7, 10.0.0.1-10.0.0.9,2001:db8::/32"}, ""},
		{"icmp4", api.NetworkACLRule{Action: "allow", Protocol: "icmp4", ICMPType: "8", ICMPCode: "0", Destination: "10.0.0.0/8"}, ""},
		{"logged", api.NetworkACLRule{Action: "reject", State: "logged"}, ""},

		{"no action", api.NetworkACLRule{}, "action"},
		{"bad state", api.NetworkACLRule{Action: "allow", State: "on"}, "state"},
		{"bad protocol", api.NetworkACLRule{Action: "allow", Protocol: "sctp"}, "protocol"},
		{"ports without protocol", api.NetworkACLRule{Action: "allow", DestinationPort: "80"}, "ports need protocol"},
		{"ports on icmp", api.NetworkACLRule{Action: "allow", Protocol: "icmp4", DestinationPort: "80"}, "ports are for tcp"},
		{"icmp type on tcp", api.NetworkACLRule{Action: "allow", Protocol: "tcp", ICMPType: "8"}, "icmp_type"},
		{"icmp code alone", api.NetworkACLRule{Action: "allow", Protocol: "icmp6", ICMPCode: "1"}, "needs its icmp_type"},
		{"icmp type too big", api.NetworkACLRule{Action: "allow", Protocol: "icmp4", ICMPType: "256"}, "0 to 255"},
		{"icmp4 to IPv6", api.NetworkACLRule{Action: "allow", Protocol: "icmp4", Source: "2001:db8::1"}, "does not go with"},
		{"bad port", api.NetworkACLRule{Action: "allow", Protocol: "udp", DestinationPort: "0"}, "not a port"},
		{"range backwards", api.NetworkACLRule{Action: "allow", Source: "10.0.0.9-10.0.0.1"}, "not a range"},
		{"range mixed", api.NetworkACLRule{Action: "allow", Source: "10.0.0.1-2001:db8::1"}, "not a range"},
		{"acl group", api.NetworkACLRule{Action: "allow", Source: "web"}, "OVN"},
		{"network selector", api.NetworkACLRule{Action: "allow", Destination: "@external"}, "OVN"},
		{"garbage", api.NetworkACLRule{Action: "allow", Source: "10.0.0.0/33"}, "not an address"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := compileACL("t", rule(c.r))
			if c.want == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("got %v, want an error with %q", err, c.want)
			}
		})
	}
	if _, err := compileACL("t", api.NetworkACLPut{Config: map[string]string{"limits": "1"}}); err == nil {
		t.Error("an unknown ACL option was accepted")
	}
}

func TestACLRules(t *testing.T) {
	a := api.NetworkACLPut{
		Ingress: []api.NetworkACLRule{
			{Action: "allow", Protocol: "tcp", DestinationPort: "80,443"},
			{Action: "drop", Source: "192.0.2.0/24,2001:db8::/32"},
			{Action: "allow", Protocol: "icmp6", ICMPType: "128", State: "logged"},
			{Action: "allow", Protocol: "udp", State: "disabled"},
		},
		Egress: []api.NetworkACLRule{{Action: "reject", Destination: "10.9.0.0/16", Protocol: "tcp", DestinationPort: "25"}},
	}
	normaliseACL(&a)
	rules, err := compileACL("web", a)
	if err != nil {
		t.Fatal(err)
	}
	nets := []fwNetwork{{Bridge: "lab.0", V4: netip.MustParsePrefix("10.7.0.0/24"), ACL: &fwNetACL{Rules: rules, IngressDefault: "reject", EgressDefault: "accept", EgressLog: true}}}
	out := rulesetFor("lodge_acltest", nets, nil)
	chain := aclChain("lab.0")
	for _, want := range []string{
		`iifname "lab.0" jump ` + chain,
		`oifname "lab.0" jump ` + chain,
		`iifname "lab.0" udp dport { 53, 67, 547 } accept`,
		"ct state established,related accept",
		`oifname "lab.0" ip saddr { 192.0.2.0/24 } drop`,
		`oifname "lab.0" ip6 saddr { 2001:db8::/32 } drop`,
		`oifname "lab.0" meta l4proto tcp tcp dport { 80, 443 } accept`,
		`oifname "lab.0" meta l4proto ipv6-icmp icmpv6 type 128 log prefix "lodge_acl_web " accept`,
		`iifname "lab.0" ip daddr { 10.9.0.0/16 } meta l4proto tcp tcp dport { 25 } reject`,
		`oifname "lab.0" reject`,
		`iifname "lab.0" log prefix "lodge_acl_default " accept`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "meta l4proto udp") {
		t.Errorf("a disabled rule was rendered:\n%s", out)
	}
	// Drop before reject before allow, whatever the ACL's order.
	if d, r, a := strings.Index(out, "drop\n"), strings.Index(out, "25 } reject"), strings.Index(out, "443 } accept"); !(d < r && r < a) {
		t.Errorf("rules out of order (drop %d, reject %d, allow %d):\n%s", d, r, a, out)
	}
	if strings.Contains(rulesetFor("lodge_acltest", []fwNetwork{{Bridge: "quiet"}}, nil), "acl_") {
		t.Error("a network without ACLs got ACL chains")
	}
	checkWithNft(t, out)
}
