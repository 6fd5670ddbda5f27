package idmap

import (
	"slices"
	"testing"
)

func TestFromRangesGivesBackTheMap(t *testing.T) {
	raw, err := ParseRaw("both 1000 1000\nuid 50-59 500-509\ngid 7 0")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Map{
		{HostUID: 100000, HostGID: 200000, Size: Size},
		{HostUID: 100000, HostGID: 200000, Size: Size, Raw: raw},
	} {
		got, err := FromRanges(m.Ranges(false), m.Ranges(true))
		if err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
		for _, gid := range []bool{false, true} {
			if !slices.Equal(merged(got.Ranges(gid)), merged(m.Ranges(gid))) {
				t.Errorf("gid=%v: %+v from %+v", gid, got.Ranges(gid), m.Ranges(gid))
			}
		}
		if got.HostUID != m.HostUID || got.HostGID != m.HostGID || got.Size != m.Size {
			t.Errorf("%+v rebuilt as %+v", m, got)
		}
		if len(m.Raw) > 0 && (len(got.Raw) != 3 || !got.Raw[0].UID || !got.Raw[0].GID) {
			t.Errorf("the raw entries, rebuilt: %+v", got.Raw)
		}
	}
}

func TestFromRangesRefusesOtherShapes(t *testing.T) {
	whole := []Range{{0, 100000, Size}}
	for what, uids := range map[string][]Range{
		"a container id left unmapped":   {{0, 100000, 10}, {11, 100011, Size - 11}},
		"two lines for one container id": {{0, 100000, Size}, {5, 1000, 1}},
		"an empty line":                  {{0, 100000, Size}, {0, 5, 0}},
	} {
		if _, err := FromRanges(uids, whole); err == nil {
			t.Errorf("%s: accepted", what)
		}
	}
	if _, err := FromRanges(nil, whole); err == nil {
		t.Error("no uid lines: accepted")
	}
}
