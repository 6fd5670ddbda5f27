package network

import (
	"net/netip"
	"strings"
	"testing"
)

func TestRuleset(t *testing.T) {
	out := rulesetFor("lodge", []fwNetwork{
		{Bridge: "lodgebr0", V4: netip.MustParsePrefix("10.1.2.0/24"), NAT4: true},
		{Bridge: "quiet", V4: netip.MustParsePrefix("10.9.9.0/24"), V6: netip.MustParsePrefix("fd00:1::/64"), NAT6: true},
	}, []ProxyNAT{{Proto: "tcp", ListenAddr: "192.0.2.2", ListenPort: 8080, TargetAddr: "10.1.2.5", TargetPort: 80}})
	for _, want := range []string{
		"delete table inet lodge",
		`iifname "lodgebr0" accept`,
		"ip saddr 10.1.2.0/24 ip daddr != 10.1.2.0/24 masquerade",
		"ip6 saddr fd00:1::/64 ip6 daddr != fd00:1::/64 masquerade",
		"ip daddr 192.0.2.2 tcp dport 8080 dnat ip to 10.1.2.5:80",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "10.9.9.0/24 ip daddr") {
		t.Errorf("NAT for a network without ipv4.nat:\n%s", out)
	}
	if empty := rulesetFor("lodge", nil, nil); strings.Contains(empty, "chain") {
		t.Errorf("no networks still makes chains:\n%s", empty)
	}
}

func TestConfigValidation(t *testing.T) {
	good := map[string]string{"ipv4.address": "10.0.3.1/24", "ipv4.nat": "true", "ipv4.dhcp.ranges": "10.0.3.50-10.0.3.99", "dns.domain": "lab.lodge", "bridge.mtu": "1400"}
	if err := ValidateConfig(good); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"ipv4.address": "10.0.3.0/24", "ipv6.address": "10.0.0.1/24", "ipv4.nat": "maybe", "bridge.mtu": "100", "dns.domain": "-x", "nonsense": "1", "ipv4.dhcp.ranges": "10.0.3.9"} {
		if err := ValidateConfig(map[string]string{k: v}); err == nil {
			t.Errorf("%s=%s accepted", k, v)
		}
	}
	if err := ValidateConfig(map[string]string{"ipv4.address": "10.0.3.1/24", "ipv4.dhcp.ranges": "10.0.4.1-10.0.4.9"}); err == nil {
		t.Error("a DHCP range outside the subnet was accepted")
	}
	for _, n := range []string{"", "averyveryverylongname", "a/b"} {
		if ValidateName(n) == nil {
			t.Errorf("name %q accepted", n)
		}
	}
}
