package migration

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
)

// LXD's BTRFS transfer sends, with its migration_header feature, a JSON
// frame of the subvolumes to come before their streams: each snapshot's
// root, then the volume's. Lodge sends no nested subvolumes, and takes
// none: only streams of whole snapshots and of the volume.
//
// With header_subvolume_uuids, a refresh goes that way too: the source's
// header lists all its snapshots with their subvolumes' uuids, the target
// answers with a header of those it lacks (a snapshot it received from a
// stream of that very subvolume it has), and the source sends those, the
// first against the snapshot before it, then the volume against the last
// (whole, when no snapshot is sent).

type btrfsHeader struct {
	Subvolumes []btrfsSubvolume `json:"subvolumes"`
}

type btrfsSubvolume struct {
	Path     string `json:"path"`
	Snapshot string `json:"snapshot"`
	Readonly bool   `json:"readonly"`
	UUID     string `json:"uuid"`
}

// btrfsHeaderOf is the header of snapshots snaps, with their subvolumes'
// uuids when uuidOf gives them, and of the volume.
func btrfsHeaderOf(snaps []string, uuidOf func(snap string) (string, error)) (btrfsHeader, error) {
	var h btrfsHeader
	for _, n := range snaps {
		sv := btrfsSubvolume{Path: "/", Snapshot: n, Readonly: true}
		if uuidOf != nil {
			id, err := uuidOf(n)
			if err != nil {
				return h, fmt.Errorf("snapshot %q's subvolume: %w", n, err)
			}
			sv.UUID = id
		}
		h.Subvolumes = append(h.Subvolumes, sv)
	}
	h.Subvolumes = append(h.Subvolumes, btrfsSubvolume{Path: "/"})
	return h, nil
}

// sendBtrfsHeader sends h as one frame.
func sendBtrfsHeader(fs io.WriteCloser, h btrfsHeader) error {
	data, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if _, err := fs.Write(data); err != nil {
		return fmt.Errorf("send the btrfs header: %w", err)
	}
	if err := fs.Close(); err != nil {
		return fmt.Errorf("send the btrfs header: %w", err)
	}
	return nil
}

// readBtrfsHeader reads a header, refusing nested subvolumes, and returns
// the snapshots it names, in its order, and how many volumes.
func readBtrfsHeader(fs io.Reader) (h btrfsHeader, snaps []string, volumes int, err error) {
	if err := readJSONFrame(fs, &h); err != nil {
		return h, nil, 0, fmt.Errorf("the btrfs header: %w", err)
	}
	for _, sv := range h.Subvolumes {
		if sv.Path != "/" {
			return h, nil, 0, fmt.Errorf("the volume holds a nested subvolume (%s), which Lodge does not take", sv.Path)
		}
		if sv.Snapshot == "" {
			volumes++
			continue
		}
		snaps = append(snaps, sv.Snapshot)
	}
	return h, snaps, volumes, nil
}

// receiveBtrfsHeader reads the source's header and checks it announces
// what the streams must be: the snapshots agreed on, then the volume,
// each one subvolume.
func receiveBtrfsHeader(fs io.Reader, snaps []Snapshot) error {
	_, got, volumes, err := readBtrfsHeader(fs)
	if err != nil {
		return err
	}
	if want := snapshotNames(snaps); volumes != 1 || !slices.Equal(got, want) {
		return fmt.Errorf("%w: the btrfs header announces snapshots %v and %d volumes, not snapshots %v and the volume", ErrMalformed, got, volumes, want)
	}
	return nil
}

func snapshotNames(snaps []Snapshot) []string {
	out := make([]string, 0, len(snaps))
	for _, sn := range snaps {
		out = append(out, sn.Name)
	}
	return out
}

// answerBtrfsRefresh is a target's side of LXD's refresh by uuids: it
// reads the source's header of all its snapshots, checks that the
// source's snapshot parent is the subvolume the copy's picture of it was
// received from (parentID), and asks for snapshots send (the ones after
// parent) and the volume. The source then sends send[0] against parent.
func answerBtrfsRefresh(fs io.ReadWriteCloser, send []Snapshot, parent, parentID string) error {
	h, names, volumes, err := readBtrfsHeader(fs)
	if err != nil {
		return err
	}
	if volumes != 1 {
		return fmt.Errorf("%w: the btrfs header announces %d volumes", ErrMalformed, volumes)
	}
	want := snapshotNames(send)
	if len(want) == 0 || refreshParent(names, want) != parent || !inOrder(names, want) {
		return fmt.Errorf("%w: the btrfs header announces snapshots %v, not %s then %v", ErrMalformed, names, parent, want)
	}
	var answer btrfsHeader
	for _, sv := range h.Subvolumes {
		switch {
		case sv.Snapshot == parent && sv.UUID != parentID:
			return fmt.Errorf("the source's snapshot %q is another subvolume (%s) than the one this copy's was received from (%s): delete the copy's snapshot %q and refresh again (by rsync, then)", parent, sv.UUID, parentID, parent)
		case sv.Snapshot == "" || slices.Contains(want, sv.Snapshot):
			answer.Subvolumes = append(answer.Subvolumes, sv)
		}
	}
	return sendBtrfsHeader(fs, answer)
}

// btrfsRefreshList is a source's side of LXD's refresh by uuids: it
// reads the target's answer, the snapshots to send in the order given
// (each one offered), and the volume, which must be there.
func btrfsRefreshList(fs io.Reader, offered []string) ([]string, error) {
	_, names, volumes, err := readBtrfsHeader(fs)
	if err != nil {
		return nil, fmt.Errorf("the target's answer: %w", err)
	}
	if volumes != 1 {
		return nil, fmt.Errorf("%w: the target's btrfs answer asks for %d volumes", ErrMalformed, volumes)
	}
	for _, n := range names {
		if !slices.Contains(offered, n) {
			return nil, fmt.Errorf("the target asks for snapshot %q, which was not offered", n)
		}
	}
	return names, nil
}

// refreshParent is what LXD's source sends the first snapshot of a
// refresh against: the snapshot before it, unless it is the first.
func refreshParent(all, send []string) string {
	if len(send) == 0 {
		return ""
	}
	if i := slices.Index(all, send[0]); i > 0 {
		return all[i-1]
	}
	return ""
}

// inOrder says whether every name of sub is in all, in the same order.
func inOrder(all, sub []string) bool {
	i := 0
	for _, n := range all {
		if i < len(sub) && n == sub[i] {
			i++
		}
	}
	return i == len(sub)
}
