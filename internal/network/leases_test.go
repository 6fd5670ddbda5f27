package network

import (
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
