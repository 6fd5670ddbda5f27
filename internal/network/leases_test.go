package network

import (
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// TestLeasesReadsBothFamilies: IPv4 lines carry the MAC; IPv6 lines carry
// an IAID where the MAC would be, and the client's DUID last.
func TestLeasesReadsBothFamilies(t *testing.T) {
	dir := t.TempDir()
	file := `1795716000 00:16:3e:aa:bb:01 10.61.0.40 deb6 ff:3e:aa:bb:01:00:04:5e
1795716001 00:16:3e:aa:bb:02 10.61.0.41 * *
duid 00:01:00:01:30:6c:1a:2b:52:54:00:12:34:56
1795716002 1045311233 fd42:8:8:8::50 deb6 00:02:00:00:ab:11:6d:d3:a9:9b:f5:2f:91:3e
1795716003 3 fd42:8:8:8::1001 b 00:03:00:01:00:16:3e:aa:bb:02
1795716004 7 fd42:8:8:8::1002 * 00:01:00:01:2e:8b:6a:10:00:16:3e:aa:bb:03
`
	if err := os.WriteFile(filepath.Join(dir, "dnsmasq.leases"), []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	got := (&dnsmasq{dir: dir}).leases()
	want := []struct{ addr, mac, host string }{
		{"10.61.0.40", "00:16:3e:aa:bb:01", "deb6"},
		{"10.61.0.41", "00:16:3e:aa:bb:02", ""},
		{"fd42:8:8:8::50", "", "deb6"},                 // DUID-EN: no MAC in it
		{"fd42:8:8:8::1001", "00:16:3e:aa:bb:02", "b"}, // DUID-LL
		{"fd42:8:8:8::1002", "00:16:3e:aa:bb:03", ""},  // DUID-LLT
	}
	if len(got) != len(want) {
		t.Fatalf("%d leases, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Address != w.addr || got[i].Hwaddr != w.mac || got[i].Hostname != w.host || got[i].Type != "dynamic" {
			t.Errorf("lease %d: %+v, want %+v", i, got[i], w)
		}
	}
}

// TestDHCPv6ReleaseNamesTheLease: the RELEASE carries the client's and the
// server's DUIDs and an IA_NA with the lease's IAID and address.
func TestDHCPv6ReleaseNamesTheLease(t *testing.T) {
	dir := t.TempDir()
	file := "duid 00:01:00:01:30:6c:1a:2b:52:54:00:12:34:56\n" +
		"1795716002 1045311233 fd42:8:8:8::50 deb6 00:02:00:00:ab:11:6d:d3\n" +
		"1795716003 T7 fd42:8:8:8::51 deb6 00:02:00:00:ab:11:6d:d3\n"
	if err := os.WriteFile(filepath.Join(dir, "dnsmasq.leases"), []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	server, leases := (&dnsmasq{dir: dir}).readLeases()
	if len(server) != 14 || len(leases) != 2 || leases[0].iaid != 1045311233 || leases[1].iaid != -1 || leases[0].Hostname != "deb6" {
		t.Fatalf("server DUID %x, leases %+v (the temporary address has no IAID to release)", server, leases)
	}
	msg := dhcpv6Release(server, leases[0].clientDUID, uint32(leases[0].iaid), netip.MustParseAddr(leases[0].Address))
	want := "0001000800020000ab116dd3" + // client id
		"0002000e00010001306c1a2b525400123456" + // server id
		"000800020000" + // elapsed time
		"000300283e4e2f010000000000000000" + // IA_NA: IAID, T1, T2
		"00050018fd420008000800080000000000000050" + "0000000000000000" // IA address, lifetimes 0
	if msg[0] != 8 || hex.EncodeToString(msg[4:]) != want {
		t.Fatalf("RELEASE %x", msg)
	}
}
