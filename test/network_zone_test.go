package test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// axfr transfers zone from lodged's DNS server at addr, inside namespace
// ns, signed with key (name and base64 secret) when given. It returns the
// records as text, or the answer's error.
func axfr(t *testing.T, ns, addr, zone, keyName, secret string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dialIn(ns)(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	tr := &dns.Transfer{Conn: &dns.Conn{Conn: c}}
	m := new(dns.Msg)
	m.SetAxfr(dns.Fqdn(zone))
	if keyName != "" {
		tr.TsigSecret = map[string]string{keyName: secret}
		m.SetTsig(keyName, dns.HmacSHA256, 300, time.Now().Unix())
	}
	env, err := tr.In(m, addr)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for e := range env {
		if e.Error != nil {
			return b.String(), e.Error
		}
		for _, rr := range e.RR {
			b.WriteString(rr.String() + "\n")
		}
	}
	return b.String(), nil
}

// udpQuery asks lodged's DNS server at addr, inside namespace ns, one
// question over UDP.
func udpQuery(ns, addr, zone string, qtype uint16) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dialIn(ns)(ctx, "udp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	co := &dns.Conn{Conn: c}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(zone), qtype)
	if err := co.WriteMsg(m); err != nil {
		return nil, err
	}
	return co.ReadMsg()
}

// TestNetworkZones serves a network's instances as DNS zones (network_dns,
// network_dns_records), set up with lxc 5.0.2 and lodge, and transferred
// by a DNS client as a secondary server would: the instance's A and PTR
// records, the gateway's, a record added by hand; a transfer from a
// stranger or with a wrong key gets nothing.
func TestNetworkZones(t *testing.T) {
	d, _ := startDaemonInNetns(t)
	d.MustLodge("image", "import", busyboxImage(t), "--alias", "busybox")
	const dnsAddr = "127.0.0.1:1053"
	const secret = "c2VjcmV0LWtleS1mb3ItdGVzdHM=" // "secret-key-for-tests"
	d.MustLXC("config", "set", "core.dns_address", dnsAddr)
	d.MustLXC("network", "zone", "create", "lab.example.net", "peers.sec.address=127.0.0.1", "peers.sec.key="+secret, "dns.nameservers=ns1.example.net")
	d.MustLodge("network", "zone", "create", "0.59.10.in-addr.arpa", "peers.sec.address=127.0.0.1")
	d.MustLXC("network", "zone", "record", "create", "lab.example.net", "www")
	d.MustLXC("network", "zone", "record", "entry", "add", "lab.example.net", "www", "CNAME", "web.lab.example.net.")
	d.MustLodge("network", "zone", "record", "entry", "add", "lab.example.net", "www", "TXT", `"hello"`, "--ttl", "60")

	br := uniq("zbr")
	d.MustLodge("network", "create", br, "ipv4.address=10.59.0.1/24", "dns.zone.forward=lab.example.net", "dns.zone.reverse.ipv4=0.59.10.in-addr.arpa")
	web := uniq("web")
	launchOnNetwork(t, d, "busybox", web, br, "ipv4.address=10.59.0.7")

	key := "lab.example.net_sec."
	var got string
	waitFor(t, "the zone to list the instance", 30*time.Second, func() bool {
		got, _ = axfr(t, d.Netns, dnsAddr, "lab.example.net", key, secret)
		return strings.Contains(got, web+".lab.example.net.\t300\tIN\tA\t10.59.0.7")
	})
	for _, want := range []string{
		"lab.example.net.\t3600\tIN\tSOA\tns1.example.net. hostmaster.lab.example.net.",
		"lab.example.net.\t300\tIN\tNS\tns1.example.net.",
		br + ".gw.lab.example.net.\t300\tIN\tA\t10.59.0.1",
		"www.lab.example.net.\t300\tIN\tCNAME\tweb.lab.example.net.",
		"www.lab.example.net.\t60\tIN\tTXT\t\"hello\"",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the transfer lacks %q:\n%s", want, got)
		}
	}
	rev, err := axfr(t, d.Netns, dnsAddr, "0.59.10.in-addr.arpa", "", "")
	if err != nil || !strings.Contains(rev, "7.0.59.10.in-addr.arpa.\t300\tIN\tPTR\t"+web+".lab.example.net.") {
		t.Fatalf("the reverse zone: %v\n%s", err, rev)
	}

	// The key is needed, and the right one; an unknown zone is no answer.
	for _, c := range []struct{ zone, key, secret string }{
		{"lab.example.net", "", ""},
		{"lab.example.net", key, "d3Jvbmc="},
		{"lab.example.net", "other.example.net_sec.", secret},
		{"nosuch.example.net", "", ""},
	} {
		if out, err := axfr(t, d.Netns, dnsAddr, c.zone, c.key, c.secret); err == nil || strings.Contains(out, "10.59.0.7") {
			t.Errorf("a transfer of %s with key %q: %v\n%s", c.zone, c.key, err, out)
		}
	}
	// Over UDP a peer gets the SOA; a transfer is sent to TCP.
	for _, c := range []struct {
		qtype uint16
		check func(*dns.Msg) bool
	}{
		{dns.TypeSOA, func(m *dns.Msg) bool { return len(m.Answer) == 1 && m.Answer[0].Header().Rrtype == dns.TypeSOA }},
		{dns.TypeAXFR, func(m *dns.Msg) bool { return m.Truncated && len(m.Answer) == 0 }},
	} {
		if m, err := udpQuery(d.Netns, dnsAddr, "0.59.10.in-addr.arpa", c.qtype); err != nil || !c.check(m) {
			t.Errorf("%s over UDP: %v %v", dns.TypeToString[c.qtype], err, m)
		}
	}
	// A peer of another address gets nothing either.
	d.MustLodge("network", "zone", "set", "0.59.10.in-addr.arpa", "peers.sec.address=192.0.2.53")
	if out, err := axfr(t, d.Netns, dnsAddr, "0.59.10.in-addr.arpa", "", ""); err == nil || strings.Contains(out, "PTR") {
		t.Errorf("a transfer to a stranger: %v\n%s", err, out)
	}

	// Refusals that say what to fix.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"network", "zone", "create", "lab.example.net"}, "already exists"},
		{[]string{"network", "zone", "create", "bad_zone.net"}, "letters, digits and dashes"},
		{[]string{"network", "zone", "create", "z.example.net", "peers.a.address=host"}, "not an IP address"},
		{[]string{"network", "zone", "delete", "lab.example.net"}, "in use"},
		{[]string{"network", "set", br, "dns.zone.forward=nosuch.example.net"}, "no network zone"},
		{[]string{"network", "zone", "record", "entry", "add", "lab.example.net", "www", "A", "not-an-address"}, "A"},
		{[]string{"network", "zone", "record", "entry", "add", "lab.example.net", "www", "SOA", "a b 1 2 3 4 5"}, "not a record type"},
		{[]string{"config", "set", "core.dns_address", "192.0.2.1:53"}, "core.dns_address"},
	} {
		if _, stderr, err := d.LXC(c.args...); err == nil || !strings.Contains(stderr, c.want) {
			t.Errorf("lxc %v: %v %q, want an error with %q", c.args, err, stderr, c.want)
		}
	}
	if out := d.MustLXC("network", "zone", "show", "lab.example.net"); !strings.Contains(out, "/1.0/networks/"+br) {
		t.Errorf("used_by lacks the network:\n%s", out)
	}

	// The zones are served again after a restart, and go with the key.
	d.Stop()
	d.Start()
	waitFor(t, "the zone after a daemon restart", 10*time.Second, func() bool {
		got, _ = axfr(t, d.Netns, dnsAddr, "lab.example.net", key, secret)
		return strings.Contains(got, "10.59.0.7")
	})
	d.MustLXC("network", "unset", br, "dns.zone.forward")
	d.MustLXC("network", "unset", br, "dns.zone.reverse.ipv4")
	d.MustLXC("network", "zone", "delete", "lab.example.net")
	if out, err := axfr(t, d.Netns, dnsAddr, "lab.example.net", key, secret); err == nil {
		t.Errorf("a deleted zone is still served:\n%s", out)
	}
	d.MustLXC("config", "unset", "core.dns_address")
}
