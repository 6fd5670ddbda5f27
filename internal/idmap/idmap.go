// Package idmap works out which host ids an unprivileged container's ids map
// to, and shifts a root filesystem's ownership onto that range.
package idmap

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Size is how many ids each container sees (0..65535), as with LXD.
const Size = 65536

// Map is a container's id mapping: container id 0 is host id HostUID/HostGID.
type Map struct {
	HostUID uint32 `json:"host_uid"`
	HostGID uint32 `json:"host_gid"`
	Size    uint32 `json:"size"`
	// Total is how many host ids root's whole range holds, from which
	// isolated instances get ranges of their own (not stored per instance).
	Total uint32 `json:"-"`
	// Raw are raw.idmap entries: host ids mapped straight into the
	// instance, punched out of the range above.
	Raw []Raw `json:"raw,omitempty"`
}

// Raw maps Count ids from Host (on the host) to Container (inside).
type Raw struct {
	UID, GID        bool
	Host, Container uint32
	Count           uint32
}

// Range is one line of a uid_map or gid_map.
type Range struct {
	Container, Host, Size uint32
}

// Ranges returns the uid (gid when gid is set) map lines: the instance's
// range with the raw entries' container ids cut out, plus the raw entries.
func (m *Map) Ranges(gid bool) []Range {
	base := m.HostUID
	if gid {
		base = m.HostGID
	}
	out := []Range{{0, base, m.Size}}
	for _, r := range m.Raw {
		if (gid && !r.GID) || (!gid && !r.UID) {
			continue
		}
		var next []Range
		for _, x := range out {
			lo, hi := x.Container, x.Container+x.Size
			cutLo, cutHi := r.Container, r.Container+r.Count
			if cutHi <= lo || cutLo >= hi {
				next = append(next, x)
				continue
			}
			if cutLo > lo {
				next = append(next, Range{lo, x.Host, cutLo - lo})
			}
			if cutHi < hi {
				next = append(next, Range{cutHi, x.Host + (cutHi - lo), hi - cutHi})
			}
		}
		out = append(next, Range{r.Container, r.Host, r.Count})
	}
	return out
}

func shift(ranges []Range, id uint32) uint32 {
	for _, r := range ranges {
		if id >= r.Container && id-r.Container < r.Size {
			return r.Host + (id - r.Container)
		}
	}
	return id
}

func unshift(ranges []Range, id uint32) uint32 {
	for _, r := range ranges {
		if id >= r.Host && id-r.Host < r.Size {
			return r.Container + (id - r.Host)
		}
	}
	return id
}

// ParseRaw reads raw.idmap: lines of "both|uid|gid HOST[-HOST] CONTAINER[-CONTAINER]".
func ParseRaw(v string) ([]Raw, error) {
	var out []Raw
	for _, line := range strings.Split(strings.TrimSpace(v), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("raw.idmap line %q: want \"both|uid|gid HOST[-HOST] CONTAINER[-CONTAINER]\"", line)
		}
		r := Raw{UID: f[0] == "both" || f[0] == "uid", GID: f[0] == "both" || f[0] == "gid"}
		if !r.UID && !r.GID {
			return nil, fmt.Errorf("raw.idmap line %q: the kind is both, uid or gid", line)
		}
		hlo, hhi, err1 := parseIDs(f[1])
		clo, chi, err2 := parseIDs(f[2])
		if err1 != nil || err2 != nil || hhi-hlo != chi-clo {
			return nil, fmt.Errorf("raw.idmap line %q: ids must be numbers or equal-length ranges", line)
		}
		if chi >= Size {
			return nil, fmt.Errorf("raw.idmap line %q: container ids must be below %d", line, Size)
		}
		r.Host, r.Container, r.Count = hlo, clo, hhi-hlo+1
		out = append(out, r)
	}
	return out, nil
}

func parseIDs(s string) (uint32, uint32, error) {
	a, b, isRange := strings.Cut(s, "-")
	lo, err := strconv.ParseUint(a, 10, 32)
	if err != nil {
		return 0, 0, err
	}
	hi := lo
	if isRange {
		if hi, err = strconv.ParseUint(b, 10, 32); err != nil || hi < lo {
			return 0, 0, fmt.Errorf("bad range %q", s)
		}
	}
	return uint32(lo), uint32(hi), nil
}

// Fallback is used when /etc/subuid has no range for root; it is what LXD
// uses on hosts without a subuid entry.
var Fallback = Map{HostUID: 1000000, HostGID: 1000000, Size: Size, Total: 1000000000}

// FromSubIDFiles reads root's ranges from /etc/subuid and /etc/subgid.
func FromSubIDFiles(subuid, subgid string) (Map, error) {
	uid, uerr := firstRange(subuid)
	gid, gerr := firstRange(subgid)
	if uerr != nil || gerr != nil {
		return Fallback, nil
	}
	m := Map{HostUID: uid.start, HostGID: gid.start, Size: min(uid.count, gid.count, Size), Total: min(uid.count, gid.count)}
	if m.Size < Size {
		return Map{}, fmt.Errorf("root's range in %s/%s holds %d ids; containers need %d", subuid, subgid, m.Size, Size)
	}
	return m, nil
}

type idRange struct{ start, count uint32 }

func firstRange(path string) (idRange, error) {
	f, err := os.Open(path)
	if err != nil {
		return idRange{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		r, ok := parseLine(sc.Text(), "root")
		if ok {
			return r, nil
		}
	}
	return idRange{}, fmt.Errorf("no range for root in %s", path)
}

func parseLine(line, user string) (idRange, bool) {
	parts := strings.Split(strings.TrimSpace(line), ":")
	if len(parts) != 3 || (parts[0] != user && parts[0] != "0") {
		return idRange{}, false
	}
	start, err1 := strconv.ParseUint(parts[1], 10, 32)
	count, err2 := strconv.ParseUint(parts[2], 10, 32)
	if err1 != nil || err2 != nil {
		return idRange{}, false
	}
	return idRange{uint32(start), uint32(count)}, true
}

// ShiftUID maps a container uid to the host; ids outside the range stay as
// they are (they show as nobody inside). A nil map is the identity.
func (m *Map) ShiftUID(id uint32) uint32 {
	if m != nil && len(m.Raw) > 0 {
		return shift(m.Ranges(false), id)
	}
	if m != nil && id < m.Size {
		return m.HostUID + id
	}
	return id
}

// ShiftGID maps a container gid to the host.
func (m *Map) ShiftGID(id uint32) uint32 {
	if m != nil && len(m.Raw) > 0 {
		return shift(m.Ranges(true), id)
	}
	if m != nil && id < m.Size {
		return m.HostGID + id
	}
	return id
}

// UnshiftUID maps a host uid back into the container.
func (m *Map) UnshiftUID(id uint32) uint32 {
	if m != nil && len(m.Raw) > 0 {
		return unshift(m.Ranges(false), id)
	}
	if m != nil && id >= m.HostUID && id-m.HostUID < m.Size {
		return id - m.HostUID
	}
	return id
}

// UnshiftGID maps a host gid back into the container.
func (m *Map) UnshiftGID(id uint32) uint32 {
	if m != nil && len(m.Raw) > 0 {
		return unshift(m.Ranges(true), id)
	}
	if m != nil && id >= m.HostGID && id-m.HostGID < m.Size {
		return id - m.HostGID
	}
	return id
}

// Isolated returns the n-th range of its own (n >= 1) within the whole
// allocation, or false when the allocation has no room for it.
func (m Map) Isolated(n uint32) (Map, bool) {
	off := uint64(n) * Size
	if off+Size > uint64(m.Total) {
		return Map{}, false
	}
	return Map{HostUID: m.HostUID + uint32(off), HostGID: m.HostGID + uint32(off), Size: Size, Total: m.Total}, true
}

// Equal says whether two (possibly nil) maps are the same.
func Equal(a, b *Map) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.HostUID == b.HostUID && a.HostGID == b.HostGID && a.Size == b.Size && slices.Equal(a.Raw, b.Raw)
}

// HasUID says whether a container uid is one the map gives a host id, so a
// file given that owner stays inside the instance's range. A nil map (a
// privileged instance) has every id but (uid_t)-1, which chown reads as
// "leave unchanged".
func (m *Map) HasUID(id uint32) bool { return m.has(id, false) }

// HasGID is HasUID for group ids.
func (m *Map) HasGID(id uint32) bool { return m.has(id, true) }

func (m *Map) has(id uint32, gid bool) bool {
	if m == nil {
		return id != ^uint32(0)
	}
	for _, r := range m.Ranges(gid) {
		if id >= r.Container && id-r.Container < r.Size {
			return true
		}
	}
	return false
}
