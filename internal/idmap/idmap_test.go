package idmap

import (
	"os"
	"path/filepath"
	"testing"
)

func TestShiftMath(t *testing.T) {
	m := &Map{HostUID: 100000, HostGID: 200000, Size: Size}
	if m.ShiftUID(0) != 100000 || m.ShiftGID(65535) != 265535 || m.ShiftUID(70000) != 70000 {
		t.Fatal("shift outside expectations")
	}
	if m.UnshiftUID(100005) != 5 || m.UnshiftUID(5) != 5 {
		t.Fatal("unshift outside expectations")
	}
	var none *Map
	if none.ShiftUID(7) != 7 || none.UnshiftGID(7) != 7 {
		t.Fatal("nil map is not the identity")
	}
}

func TestSubIDFiles(t *testing.T) {
	dir := t.TempDir()
	u, g := filepath.Join(dir, "subuid"), filepath.Join(dir, "subgid")
	os.WriteFile(u, []byte("alice:100000:65536\nroot:1000000:1000000000\n"), 0o644)
	os.WriteFile(g, []byte("root:2000000:65536\n"), 0o644)
	m, err := FromSubIDFiles(u, g)
	if err != nil || m.HostUID != 1000000 || m.HostGID != 2000000 || m.Size != Size {
		t.Fatalf("got %+v, %v", m, err)
	}
	os.WriteFile(g, []byte("root:2000000:100\n"), 0o644)
	if _, err := FromSubIDFiles(u, g); err == nil {
		t.Fatal("a 100-id range was accepted")
	}
	m, _ = FromSubIDFiles(filepath.Join(dir, "missing"), g)
	if !Equal(&m, &Fallback) {
		t.Fatalf("no files: got %+v", m)
	}
	iso, ok := Fallback.Isolated(2)
	if !ok || iso.HostUID != 1000000+2*Size || iso.Size != Size {
		t.Fatalf("isolated range 2: %+v", iso)
	}
	if _, ok := (Map{HostUID: 1, HostGID: 1, Size: Size, Total: 2 * Size}).Isolated(2); ok {
		t.Fatalf("no files: got %+v", m)
	}
}

func TestCapsRoundTrip(t *testing.T) {
	v2 := make([]byte, capV2Size)
	v2[3] = 0x02
	v2[4] = 0x01 // a permitted bit
	v3 := capsV3(v2, 1000000)
	if len(v3) != capV3Size || v3[3] != 0x03 || v3[4] != 0x01 {
		t.Fatalf("v3 = %x", v3)
	}
	back := capsV2(v3)
	if len(back) != capV2Size || back[3] != 0x02 || back[4] != 0x01 {
		t.Fatalf("v2 = %x", back)
	}
}

func TestRawRanges(t *testing.T) {
	raw, err := ParseRaw("both 1000 1000\nuid 50-59 500-509")
	if err != nil {
		t.Fatal(err)
	}
	m := &Map{HostUID: 100000, HostGID: 200000, Size: Size, Raw: raw}
	if m.ShiftUID(1000) != 1000 || m.ShiftGID(1000) != 1000 || m.ShiftUID(505) != 55 || m.ShiftUID(0) != 100000 || m.ShiftUID(1001) != 101001 {
		t.Fatalf("shift with raw entries: %d %d %d %d", m.ShiftUID(1000), m.ShiftUID(505), m.ShiftUID(0), m.ShiftUID(1001))
	}
	if m.UnshiftUID(1000) != 1000 || m.UnshiftUID(55) != 505 || m.UnshiftUID(101001) != 1001 {
		t.Fatal("unshift with raw entries")
	}
	var total uint32
	for _, r := range m.Ranges(false) {
		total += r.Size
	}
	if total != Size || len(m.Ranges(false)) != 5 || len(m.Ranges(true)) != 3 {
		t.Fatalf("uid ranges %+v (total %d), gid ranges %+v", m.Ranges(false), total, m.Ranges(true))
	}
	for _, bad := range []string{"both 1000", "all 1 1", "uid 1-5 1-3", "both 1 70000", "uid x 1"} {
		if _, err := ParseRaw(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestHasIDs(t *testing.T) {
	m := &Map{HostUID: 1000000, HostGID: 2000000, Size: Size}
	for id, want := range map[uint32]bool{0: true, 65535: true, 65536: false, 70000: false, ^uint32(0): false} {
		if got := m.HasUID(id); got != want {
			t.Errorf("HasUID(%d) = %v, want %v", id, got, want)
		}
		if got := m.HasGID(id); got != want {
			t.Errorf("HasGID(%d) = %v, want %v", id, got, want)
		}
	}
	raw := &Map{HostUID: 1000000, HostGID: 1000000, Size: Size, Raw: []Raw{{UID: true, Host: 1000, Container: 70000, Count: 1}}}
	if !raw.HasUID(70000) || raw.HasGID(70000) {
		t.Errorf("a raw uid entry maps 70000 for uids only: HasUID %v HasGID %v", raw.HasUID(70000), raw.HasGID(70000))
	}
	var privileged *Map
	if !privileged.HasUID(70000) || privileged.HasUID(^uint32(0)) {
		t.Errorf("a privileged map has every id but -1")
	}
}
