package migration

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// headerConn is one frame in, what is written out (a Close ends it).
type headerConn struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (f *headerConn) Read(p []byte) (int, error)  { return f.in.Read(p) }
func (f *headerConn) Write(p []byte) (int, error) { return f.out.Write(p) }
func (f *headerConn) Close() error                { return nil }

func headerFrame(t *testing.T, subvolumes ...btrfsSubvolume) *headerConn {
	t.Helper()
	data, err := json.Marshal(btrfsHeader{Subvolumes: subvolumes})
	if err != nil {
		t.Fatal(err)
	}
	return &headerConn{in: bytes.NewReader(data)}
}

func TestAnswerBtrfsRefresh(t *testing.T) {
	source := []btrfsSubvolume{
		{Path: "/", Snapshot: "s0", Readonly: true, UUID: "u0"},
		{Path: "/", Snapshot: "s1", Readonly: true, UUID: "u1"},
		{Path: "/", Snapshot: "s2", Readonly: true, UUID: "u2"},
		{Path: "/", UUID: "uv"},
	}
	f := headerFrame(t, source...)
	if err := answerBtrfsRefresh(f, []Snapshot{{Name: "s2"}}, "s1", "u1"); err != nil {
		t.Fatal(err)
	}
	var answer btrfsHeader
	if err := json.Unmarshal(f.out.Bytes(), &answer); err != nil {
		t.Fatal(err)
	}
	if want := []btrfsSubvolume{source[2], source[3]}; !slices.Equal(answer.Subvolumes, want) {
		t.Errorf("answered %+v, want %+v", answer.Subvolumes, want)
	}
	// The source's answer, read back: s2, then the volume against it.
	if got, err := btrfsRefreshList(bytes.NewReader(f.out.Bytes()), []string{"s0", "s1", "s2"}); err != nil || !slices.Equal(got, []string{"s2"}) {
		t.Errorf("the source reads %v, %v", got, err)
	}
	if p := refreshParent([]string{"s0", "s1", "s2"}, []string{"s2"}); p != "s1" {
		t.Errorf("s2 goes against %q", p)
	}

	for name, c := range map[string]struct {
		header  []btrfsSubvolume
		send    []string
		parent  string
		parentU string
		want    string
	}{
		"another subvolume of the parent": {source, []string{"s2"}, "s1", "elsewhere", "another subvolume"},
		"not right after the parent":      {source, []string{"s2"}, "s0", "u0", "not s0 then"},
		"nothing to send":                 {source, nil, "s2", "u2", "not s2 then"},
		"a nested subvolume":              {append([]btrfsSubvolume{{Path: "/var/lib/docker", Snapshot: "s1"}}, source...), []string{"s2"}, "s1", "u1", "nested"},
		"two volumes":                     {append(source, btrfsSubvolume{Path: "/"}), []string{"s2"}, "s1", "u1", "2 volumes"},
	} {
		var send []Snapshot
		for _, n := range c.send {
			send = append(send, Snapshot{Name: n})
		}
		f := headerFrame(t, c.header...)
		err := answerBtrfsRefresh(f, send, c.parent, c.parentU)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.want)
		}
		if f.out.Len() != 0 {
			t.Errorf("%s: answered %s", name, f.out.String())
		}
	}
}

func TestBtrfsRefreshListRefusesWhatWasNotOffered(t *testing.T) {
	f := headerFrame(t, btrfsSubvolume{Path: "/", Snapshot: "secret"}, btrfsSubvolume{Path: "/"})
	if _, err := btrfsRefreshList(f, []string{"s0"}); err == nil || !strings.Contains(err.Error(), "not offered") {
		t.Errorf("a snapshot not offered: %v", err)
	}
	f = headerFrame(t, btrfsSubvolume{Path: "/", Snapshot: "s0"})
	if _, err := btrfsRefreshList(f, []string{"s0"}); !errors.Is(err, ErrMalformed) {
		t.Errorf("an answer without the volume: %v", err)
	}
	if p := refreshParent([]string{"s0", "s1"}, []string{"s0", "s1"}); p != "" {
		t.Errorf("the first snapshot goes against %q, not whole", p)
	}
}
