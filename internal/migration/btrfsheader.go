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

type btrfsHeader struct {
	Subvolumes []btrfsSubvolume `json:"subvolumes"`
}

type btrfsSubvolume struct {
	Path     string `json:"path"`
	Snapshot string `json:"snapshot"`
	Readonly bool   `json:"readonly"`
	UUID     string `json:"uuid"`
}

// sendBtrfsHeader sends the header of snapshots snaps and the volume.
func sendBtrfsHeader(fs io.WriteCloser, snaps []string) error {
	var h btrfsHeader
	for _, n := range snaps {
		h.Subvolumes = append(h.Subvolumes, btrfsSubvolume{Path: "/", Snapshot: n, Readonly: true})
	}
	h.Subvolumes = append(h.Subvolumes, btrfsSubvolume{Path: "/"})
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

// receiveBtrfsHeader reads the source's header and checks it announces
// what the streams must be: the snapshots agreed on, then the volume,
// each one subvolume.
func receiveBtrfsHeader(fs io.Reader, snaps []Snapshot) error {
	var h btrfsHeader
	if err := readJSONFrame(fs, &h); err != nil {
		return fmt.Errorf("the btrfs header: %w", err)
	}
	var got []string
	volumes := 0
	for _, sv := range h.Subvolumes {
		if sv.Path != "/" {
			return fmt.Errorf("the source's volume holds a nested subvolume (%s), which Lodge does not take", sv.Path)
		}
		if sv.Snapshot == "" {
			volumes++
			continue
		}
		got = append(got, sv.Snapshot)
	}
	want := make([]string, 0, len(snaps))
	for _, sn := range snaps {
		want = append(want, sn.Name)
	}
	if volumes != 1 || !slices.Equal(got, want) {
		return fmt.Errorf("%w: the btrfs header announces snapshots %v and %d volumes, not snapshots %v and the volume", ErrMalformed, got, volumes, want)
	}
	return nil
}
