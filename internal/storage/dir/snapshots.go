package dir

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/lodge-project/lodge/internal/storage/copytree"
)

func (d *Driver) snapshotsDir(name string) string {
	return filepath.Join(d.root, "containers-snapshots", name)
}

func (d *Driver) snapshotPath(name, snap string) string {
	return filepath.Join(d.snapshotsDir(name), snap)
}

// copyTree copies a tree as it is (ids unchanged).
func copyTree(src, dst string) error { return copytree.Copy(src, dst, copytree.Options{}) }

// copyInto copies src to dst through dst.partial, so a crash never leaves
// a half copy under the final name.
func copyInto(src, dst string) error {
	tmp := dst + ".partial"
	_ = removeAll(tmp)
	if err := copyTree(src, tmp); err != nil {
		_ = removeAll(tmp)
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = removeAll(tmp)
		return err
	}
	return nil
}

// CopyInstance copies a volume (or one of its snapshots) to a new instance.
func (d *Driver) CopyInstance(src, srcSnap, dst string, withSnapshots bool) error {
	from := d.InstancePath(src)
	if srcSnap != "" {
		from = d.snapshotPath(src, srcSnap)
	}
	if _, err := os.Stat(from); err != nil {
		return fmt.Errorf("copy source %s: %w", from, err)
	}
	if _, err := os.Lstat(d.InstancePath(dst)); err == nil {
		return fmt.Errorf("volume of instance %q already exists", dst)
	}
	if err := copyInto(from, d.InstancePath(dst)); err != nil {
		return fmt.Errorf("copy %q to %q: %w", src, dst, err)
	}
	if _, err := os.Stat(d.snapshotsDir(src)); withSnapshots && err == nil {
		if err := copyInto(d.snapshotsDir(src), d.snapshotsDir(dst)); err != nil {
			_ = removeAll(d.InstancePath(dst))
			return fmt.Errorf("copy snapshots of %q to %q: %w", src, dst, err)
		}
	}
	return nil
}

// CreateSnapshot copies the instance's volume into containers-snapshots/.
func (d *Driver) CreateSnapshot(name, snap string) error {
	if err := os.MkdirAll(d.snapshotsDir(name), 0o711); err != nil {
		return err
	}
	if _, err := os.Lstat(d.snapshotPath(name, snap)); err == nil {
		return fmt.Errorf("snapshot %s/%s already exists on disk", name, snap)
	}
	if err := copyInto(d.InstancePath(name), d.snapshotPath(name, snap)); err != nil {
		return fmt.Errorf("snapshot %s/%s: %w", name, snap, err)
	}
	return nil
}

// DeleteSnapshot removes a snapshot's copy.
func (d *Driver) DeleteSnapshot(name, snap string) error {
	return removeAll(d.snapshotPath(name, snap))
}

// RenameSnapshot renames a snapshot's directory.
func (d *Driver) RenameSnapshot(name, oldSnap, newSnap string) error {
	if err := os.Rename(d.snapshotPath(name, oldSnap), d.snapshotPath(name, newSnap)); err != nil {
		return fmt.Errorf("rename snapshot %s/%s: %w", name, oldSnap, err)
	}
	return nil
}

// RestoreSnapshot copies the snapshot next to the volume, then swaps them:
// volume -> <name>.old, copy -> <name>, then removes <name>.old.
// RepairInstance finishes the swap if a crash interrupts it.
func (d *Driver) RestoreSnapshot(name, snap string) error {
	vol := d.InstancePath(name)
	fresh := vol + ".restore"
	_ = removeAll(fresh)
	if err := copyInto(d.snapshotPath(name, snap), fresh); err != nil {
		return fmt.Errorf("restore %s/%s: %w", name, snap, err)
	}
	old := vol + ".old"
	if err := os.Rename(vol, old); err != nil {
		_ = removeAll(fresh)
		return fmt.Errorf("restore %s/%s: %w", name, snap, err)
	}
	if err := os.Rename(fresh, vol); err != nil {
		_ = os.Rename(old, vol)
		return fmt.Errorf("restore %s/%s: %w", name, snap, err)
	}
	return removeAll(old)
}

// SnapshotNames lists an instance's snapshot directories.
func (d *Driver) SnapshotNames(name string) ([]string, error) {
	entries, err := os.ReadDir(d.snapshotsDir(name))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out, nil
}

// RepairInstance completes an interrupted restore: if the volume is gone
// but the restored copy is whole, it takes the volume's place; leftovers go.
func (d *Driver) RepairInstance(name string) (string, error) {
	vol := d.InstancePath(name)
	fresh, old := vol+".restore", vol+".old"
	_, errVol := os.Stat(vol)
	_, errFresh := os.Stat(fresh)
	_, errOld := os.Stat(old)
	switch {
	case errVol != nil && errFresh == nil:
		if err := os.Rename(fresh, vol); err != nil {
			return "", err
		}
		_ = removeAll(old)
		return "finished an interrupted snapshot restore", nil
	case errVol != nil && errOld == nil:
		if err := os.Rename(old, vol); err != nil {
			return "", err
		}
		return "undid an interrupted snapshot restore", nil
	case errFresh == nil || errOld == nil:
		_ = removeAll(fresh)
		_ = removeAll(old)
		return "removed the leftovers of a snapshot restore", nil
	}
	return "", nil
}
