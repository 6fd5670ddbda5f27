package dnszone

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/lodge-project/lodge/api"
)

func TestZoneValidation(t *testing.T) {
	for _, good := range []string{"example.net", "lodge.example.net", "2.0.192.in-addr.arpa", "8.b.d.0.1.0.0.2.ip6.arpa"} {
		if err := ValidateName(good); err != nil {
			t.Errorf("%q refused: %v", good, err)
		}
	}
	for _, bad := range []string{"", "example.net.", "ex ample.net", "-a.net", "a..net", "a_b.net", "Example.net", strings.Repeat("a", 64) + ".net"} {
		if err := ValidateName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, c := range []struct {
		cfg  map[string]string
		want string
	}{
		{map[string]string{"peers.ns1.address": "192.0.2.1", "peers.ns1.key": "c2VjcmV0", "dns.nameservers": "ns1.example.net", "network.nat": "false", "user.x": "y"}, ""},
		{map[string]string{"peers.ns1.address": "ns1"}, "not an IP address"},
		{map[string]string{"peers.ns1.key": "not base64!"}, "base64"},
		{map[string]string{"peers.ns1.port": "53"}, "invalid network zone option"},
		{map[string]string{"peers.a.b.address": "192.0.2.1"}, "invalid network zone option"},
		{map[string]string{"network.nat": "maybe"}, "boolean"},
		{map[string]string{"dns.nameservers": "ns 1"}, "not a host name"},
		{map[string]string{"zone": "x"}, "invalid network zone option"},
	} {
		err := ValidateConfig(c.cfg)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%v: got %v, want %q", c.cfg, err, c.want)
		}
	}
	rec := func(entries ...api.NetworkZoneRecordEntry) api.NetworkZoneRecordPut {
		return api.NetworkZoneRecordPut{Entries: entries}
	}
	for _, c := range []struct {
		name string
		r    api.NetworkZoneRecordPut
		want string
	}{
		{"www", rec(api.NetworkZoneRecordEntry{Type: "A", Value: "192.0.2.10"}, api.NetworkZoneRecordEntry{Type: "AAAA", Value: "2001:db8::10", TTL: 60}), ""},
		{"_sip._tcp", rec(api.NetworkZoneRecordEntry{Type: "SRV", Value: "10 5 5060 sip.example.net."}), ""},
		{"mail", rec(api.NetworkZoneRecordEntry{Type: "TXT", Value: `"v=spf1 -all"`}), ""},
		{"www", rec(api.NetworkZoneRecordEntry{Type: "A", Value: "not-an-address"}), "A"},
		{"www", rec(api.NetworkZoneRecordEntry{Type: "SOA", Value: "a b 1 2 3 4 5"}), "not a record type"},
		{"www", rec(api.NetworkZoneRecordEntry{Type: "BOGUS", Value: "x"}), "not a record type"},
		{"www", rec(api.NetworkZoneRecordEntry{Type: "TXT", Value: "a\nevil 300 IN A 1.2.3.4"}), "one line"},
		{"www.", rec(), "relative"},
		{"w w", rec(), "not letters"},
	} {
		err := ValidateRecord("example.net", c.name, c.r)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s %v: got %v, want %q", c.name, c.r.Entries, err, c.want)
		}
	}
}

func TestNetworkZoneContent(t *testing.T) {
	nets := []Network{{
		Name: "lab", NAT4: true, Gateways: []netip.Addr{netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("fd00:9::1")},
		Hosts:        []Host{{"web", netip.MustParseAddr("10.9.0.7")}, {"web", netip.MustParseAddr("fd00:9::7")}},
		ForwardZones: []string{"lab.example.net"},
	}}
	text := func(z Record, extra ...EntryRecord) string {
		t.Helper()
		rrs, err := content(z, nets, extra, 7)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, rr := range rrs {
			b.WriteString(rr.String() + "\n")
		}
		return b.String()
	}
	fwd := text(Record{Name: "lab.example.net", NetworkZonePut: api.NetworkZonePut{Config: map[string]string{"dns.nameservers": "ns1.example.net"}}},
		EntryRecord{Name: "www", NetworkZoneRecordPut: api.NetworkZoneRecordPut{Entries: []api.NetworkZoneRecordEntry{{Type: "CNAME", Value: "web.lab.example.net."}}}})
	for _, want := range []string{
		"lab.example.net.\t3600\tIN\tSOA\tns1.example.net. hostmaster.lab.example.net. 7 120 60 86400 30",
		"lab.example.net.\t300\tIN\tNS\tns1.example.net.",
		"web.lab.example.net.\t300\tIN\tA\t10.9.0.7",
		"web.lab.example.net.\t300\tIN\tAAAA\tfd00:9::7",
		"lab.gw.lab.example.net.\t300\tIN\tA\t10.9.0.1",
		"www.lab.example.net.\t300\tIN\tCNAME\tweb.lab.example.net.",
	} {
		if !strings.Contains(fwd, want) {
			t.Errorf("forward zone lacks %q:\n%s", want, fwd)
		}
	}
	if !strings.HasPrefix(fwd, "lab.example.net.\t3600\tIN\tSOA") {
		t.Errorf("the SOA is not first:\n%s", fwd)
	}
	rev := text(Record{Name: "0.9.10.in-addr.arpa"})
	if !strings.Contains(rev, "7.0.9.10.in-addr.arpa.\t300\tIN\tPTR\tweb.lab.example.net.") || strings.Contains(rev, "AAAA") || strings.Contains(rev, "ip6.arpa") {
		t.Errorf("reverse zone:\n%s", rev)
	}
	// network.nat=false: the NATed family is left out.
	noNAT := text(Record{Name: "lab.example.net", NetworkZonePut: api.NetworkZonePut{Config: map[string]string{"network.nat": "false"}}})
	if strings.Contains(noNAT, "\tA\t") || !strings.Contains(noNAT, "\tAAAA\t") {
		t.Errorf("network.nat=false:\n%s", noNAT)
	}
}
