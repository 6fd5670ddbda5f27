package idmap

import (
	"fmt"
	"slices"
)

// FromRanges rebuilds a map from its uid and gid map lines, as another
// host describes the ids its files are on (LXD's volatile idmap entries,
// a migration header): one range from container id 0, and raw.idmap
// entries punched out of it. Lines that are not that shape (a container
// id left unmapped, ranges that overlap) are refused: the result must
// give back exactly the lines it was made from.
func FromRanges(uids, gids []Range) (*Map, error) {
	if len(uids) == 0 || len(gids) == 0 {
		return nil, fmt.Errorf("an id map needs uid and gid lines")
	}
	var m Map
	var err error
	if m.HostUID, err = baseOf(uids); err != nil {
		return nil, err
	}
	if m.HostGID, err = baseOf(gids); err != nil {
		return nil, err
	}
	for _, r := range append(slices.Clone(uids), gids...) {
		if r.Size == 0 || uint64(r.Container)+uint64(r.Size) > 1<<32-1 || uint64(r.Host)+uint64(r.Size) > 1<<32-1 {
			return nil, fmt.Errorf("id map line %+v is out of range", r)
		}
		m.Size = max(m.Size, r.Container+r.Size)
	}
	for _, side := range []struct {
		lines []Range
		base  uint32
		gid   bool
	}{{uids, m.HostUID, false}, {gids, m.HostGID, true}} {
		for _, r := range side.lines {
			if r.Host-r.Container != side.base || r.Host < r.Container {
				m.Raw = append(m.Raw, Raw{UID: !side.gid, GID: side.gid, Host: r.Host, Container: r.Container, Count: r.Size})
			}
		}
	}
	m.Raw = joinBoth(m.Raw)
	if !slices.Equal(merged(m.Ranges(false)), merged(uids)) || !slices.Equal(merged(m.Ranges(true)), merged(gids)) {
		return nil, fmt.Errorf("the id map is not one range from container id 0 with raw entries punched out of it")
	}
	return &m, nil
}

// baseOf is the host id of container id 0 in a map's main range: that of
// its largest line (raw entries are the exceptions).
func baseOf(lines []Range) (uint32, error) {
	best := lines[0]
	for _, r := range lines[1:] {
		if r.Size > best.Size {
			best = r
		}
	}
	if best.Host < best.Container {
		return 0, fmt.Errorf("id map line %+v maps below host id 0", best)
	}
	return best.Host - best.Container, nil
}

// merged is lines in container order, contiguous neighbours joined, so
// that two descriptions of one map compare equal.
func merged(lines []Range) []Range {
	sorted := slices.Clone(lines)
	slices.SortFunc(sorted, func(a, b Range) int { return int(int64(a.Container) - int64(b.Container)) })
	var out []Range
	for _, r := range sorted {
		if n := len(out); n > 0 && out[n-1].Container+out[n-1].Size == r.Container && out[n-1].Host+out[n-1].Size == r.Host {
			out[n-1].Size += r.Size
			continue
		}
		out = append(out, r)
	}
	return out
}

// joinBoth makes a uid entry and a gid entry of the same ids one entry
// for both, as raw.idmap's "both" lines are kept.
func joinBoth(raw []Raw) []Raw {
	var out []Raw
	for _, r := range raw {
		if r.GID {
			if i := slices.IndexFunc(out, func(u Raw) bool {
				return u.UID && !u.GID && u.Host == r.Host && u.Container == r.Container && u.Count == r.Count
			}); i >= 0 {
				out[i].GID = true
				continue
			}
		}
		out = append(out, r)
	}
	return out
}
