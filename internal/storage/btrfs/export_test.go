package btrfs

import (
	"os"

	"github.com/lodge-project/lodge/internal/storage"
)

// HalfCopiedSnapshots leaves v's snapshots folder as a copy cut short
// leaves it: under its temporary name, with one snapshot made.
func HalfCopiedSnapshots(d *Driver, v storage.Volume) error {
	tmp := d.SnapsDir(v) + ".partial"
	if err := os.MkdirAll(tmp, 0o711); err != nil {
		return err
	}
	return createSubvolume(tmp + "/snap0")
}

// IsSubvolume exposes isSubvolume to the tests.
var IsSubvolume = isSubvolume
