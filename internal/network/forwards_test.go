package network

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/lodge-project/lodge/api"
)

var (
	fwV4 = netip.MustParsePrefix("10.7.0.1/24")
	fwV6 = netip.MustParsePrefix("fd00:7::1/64")
)

func port(proto, listen, target, to string) api.NetworkForwardPort {
	return api.NetworkForwardPort{Protocol: proto, ListenPort: listen, TargetAddress: target, TargetPort: to}
}

func TestForwardValidation(t *testing.T) {
	for _, c := range []struct {
		name, listen string
		f            api.NetworkForwardPut
		want         string // "" for valid
	}{
		{"default target only", "192.0.2.1", api.NetworkForwardPut{Config: map[string]string{"target_address": "10.7.0.5"}}, ""},
		{"nothing yet", "192.0.2.1", api.NetworkForwardPut{}, ""},
		{"ports kept", "192.0.2.1", api.NetworkForwardPut{Ports: []api.NetworkForwardPort{port("tcp", "80,443", "10.7.0.5", "")}}, ""},
		{"many to one", "192.0.2.1", api.NetworkForwardPut{Ports: []api.NetworkForwardPort{port("udp", "5000-5009", "10.7.0.5", "53")}}, ""},
		{"one to one", "192.0.2.1", api.NetworkForwardPut{Ports: []api.NetworkForwardPort{port("tcp", "80,8080-8081", "10.7.0.5", "1080-1082")}}, ""},
		{"same port twice protocols apart", "192.0.2.1", api.NetworkForwardPut{Ports: []api.NetworkForwardPort{port("tcp", "53", "10.7.0.5", ""), port("udp", "53", "10.7.0.6", "")}}, ""},
		{"ipv6", "2001:db8::1", api.NetworkForwardPut{Config: map[string]string{"target_address": "fd00:7::5"}, Ports: []api.NetworkForwardPort{port("tcp", "22", "fd00:7::6", "2222")}}, ""},
		{"user keys", "192.0.2.1", api.NetworkForwardPut{Config: map[string]string{"user.owner": "me"}}, ""},

		{"unknown key", "192.0.2.1", api.NetworkForwardPut{Config: map[string]string{"target": "10.7.0.5"}}, "invalid forward option"},
		{"gateway as listen", "10.7.0.1", api.NetworkForwardPut{}, "gateway"},
		{"default outside", "192.0.2.1", api.NetworkForwardPut{Config: map[string]string{"target_address": "10.8.0.5"}}, "outside the network's subnet"},
		{"default is gateway", "192.0.2.1", api.NetworkForwardPut{Config: map[string]string{"target_address": "10.7.0.1"}}, "gateway"},
		{"default is broadcast", "192.0.2.1", api.NetworkForwardPut{Config: map[string]string{"target_address": "10.7.0.255"}}, "broadcast"},
		{"default not an address", "192.0.2.1", api.NetworkForwardPut{Config: map[string]string{"target_address": "c1"}}, "not an IP address"},
		{"families mixed", "192.0.2.1", api.NetworkForwardPut{Config: map[string]string{"target_address": "fd00:7::5"}}, "does not mix families"},
		{"bad protocol", "192.0.2.1", api.NetworkForwardPut{Ports: []api.NetworkForwardPort{port("sctp", "80", "10.7.0.5", "")}}, "not tcp or udp"},
		{"no listen port", "192.0.2.1", api.NetworkForwardPut{Ports: []api.NetworkForwardPort{port("tcp", "", "10.7.0.5", "")}}, "listen port is needed"},
		{"port zero", "192.0.2.1", api.NetworkForwardPut{Ports: []api.NetworkForwardPort{port("tcp", "0", "10.7.0.5", "")}}, "not a port"},
		{"port too high", "192.0.2.1", api.NetworkForwardPut{Ports: []api.NetworkForwardPort{port("tcp", "65536", "10.7.0.5", "")}}, "not a port"},
		{"range backwards", "192.0.2.1", api.NetworkForwardPut{Ports: []api.NetworkForwardPort{port("tcp", "90-80", "10.7.0.5", "")}}, "backwards"},
		{"port twice", "192.0.2.1", api.NetworkForwardPut{Ports: []api.NetworkForwardPort{port("tcp", "80-90", "10.7.0.5", ""), port("tcp", "85", "10.7.0.6", "")}}, "forwarded twice"},
		{"counts differ", "192.0.2.1", api.NetworkForwardPut{Ports: []api.NetworkForwardPort{port("tcp", "80-82", "10.7.0.5", "80-81")}}, "3 listen ports but 2 target ports"},
		{"port target is default", "192.0.2.1", api.NetworkForwardPut{Config: map[string]string{"target_address": "10.7.0.5"}, Ports: []api.NetworkForwardPort{port("tcp", "80", "10.7.0.5", "")}}, "default target already"},
		{"port target outside", "192.0.2.1", api.NetworkForwardPut{Ports: []api.NetworkForwardPort{port("tcp", "80", "192.0.2.9", "")}}, "outside"},
		{"no ipv6 subnet", "2001:db8::1", api.NetworkForwardPut{}, "no IPv6 subnet"},
	} {
		t.Run(c.name, func(t *testing.T) {
			listen, err := parseListenAddress(c.listen)
			if err != nil {
				t.Fatal(err)
			}
			v6 := fwV6
			if c.want == "no IPv6 subnet" {
				v6 = netip.Prefix{}
			}
			normaliseForward(&c.f)
			_, err = compileForward(listen, c.f, fwV4, v6)
			if c.want == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("got %v, want an error with %q", err, c.want)
			}
		})
	}
}

func TestForwardListenAddress(t *testing.T) {
	for _, bad := range []string{"", "c1", "0.0.0.0", "::", "127.0.0.1", "::1", "224.0.0.1", "169.254.1.1", "fe80::1", "255.255.255.255", "::ffff:192.0.2.1", "192.0.2.0/24"} {
		if _, err := parseListenAddress(bad); err == nil {
			t.Errorf("listen address %q accepted", bad)
		}
	}
	if a, err := parseListenAddress(" 2001:DB8:0::1 "); err != nil || a.String() != "2001:db8::1" {
		t.Errorf("canonical form: %v %v", a, err)
	}
}

func TestForwardRules(t *testing.T) {
	compile := func(listen string, f api.NetworkForwardPut) fwForward {
		t.Helper()
		fw, err := compileForward(netip.MustParseAddr(listen), f, fwV4, fwV6)
		if err != nil {
			t.Fatal(err)
		}
		return fw
	}
	nets := []fwNetwork{{Bridge: "fwbr", V4: fwV4.Masked(), V6: fwV6.Masked(), NAT4: true, Forwards: []fwForward{
		compile("192.0.2.1", api.NetworkForwardPut{Config: map[string]string{"target_address": "10.7.0.5"}, Ports: []api.NetworkForwardPort{
			port("tcp", "80,443", "10.7.0.6", ""), port("tcp", "8000-8002", "10.7.0.6", "9000-9002"), port("udp", "5000-5001", "10.7.0.7", "53"),
		}}),
		compile("2001:db8::1", api.NetworkForwardPut{Ports: []api.NetworkForwardPort{port("tcp", "22", "fd00:7::6", "2222")}}),
	}}}
	out := rulesetFor("lodge_fwtest", nets, nil)
	for _, want := range []string{
		"ip daddr 192.0.2.1 tcp dport { 80, 443 } dnat ip to 10.7.0.6\n",
		"ip daddr 192.0.2.1 tcp dport { 8000-8002 } dnat ip to 10.7.0.6 : tcp dport map { 8000 : 9000, 8001 : 9001, 8002 : 9002 }",
		"ip daddr 192.0.2.1 udp dport { 5000-5001 } dnat ip to 10.7.0.7:53",
		"ip daddr 192.0.2.1 dnat ip to 10.7.0.5",
		"ip6 daddr 2001:db8::1 tcp dport { 22 } dnat ip6 to [fd00:7::6]:2222",
		"ip saddr 10.7.0.0/24 ip daddr 10.7.0.0/24 ct status dnat masquerade",
		"ip6 saddr fd00:7::/64 ip6 daddr fd00:7::/64 ct status dnat masquerade",
		"type nat hook output",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, out)
		}
	}
	// Port rules come before the default target, which would take them.
	if strings.Index(out, "dnat ip to 10.7.0.5") < strings.Index(out, "dport { 80, 443 }") {
		t.Errorf("the default target comes first:\n%s", out)
	}
	checkWithNft(t, out)
}

// checkWithNft has nft itself read a ruleset: checked, not applied.
func checkWithNft(t *testing.T, ruleset string) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("no nft here")
	}
	cmd := exec.Command("nft", "-c", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft refuses the ruleset: %v %s\n%s", err, b, ruleset)
	}
}
