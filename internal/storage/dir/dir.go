// Package dir is the plain-directory storage driver: volumes are directories,
// copies use reflinks where the filesystem has them.
package dir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/storage/copytree"
)

// Driver is a dir pool rooted at a directory.
type Driver struct {
	root string
}

// New makes (or opens) a dir pool at root.
func New(root string) (*Driver, error) {
	for _, sub := range []string{"", "images", "containers", "containers-snapshots"} {
		// 0711: a container's mapped root must be able to reach its rootfs.
		if err := os.MkdirAll(filepath.Join(root, sub), 0o711); err != nil {
			return nil, fmt.Errorf("create pool directory: %w", err)
		}
		if err := os.Chmod(filepath.Join(root, sub), 0o711); err != nil {
			return nil, err
		}
	}
	return &Driver{root: root}, nil
}

// Name is "dir".
func (d *Driver) Name() string { return "dir" }

// ImageVolumePath is where image fp is unpacked.
func (d *Driver) ImageVolumePath(fp string) string { return filepath.Join(d.root, "images", fp) }

// InstancePath is where instance name's volume lives.
func (d *Driver) InstancePath(name string) string { return filepath.Join(d.root, "containers", name) }

// CreateImageVolume unpacks into a temporary directory and renames it into
// place, so a crash never leaves a half-unpacked image that looks whole.
func (d *Driver) CreateImageVolume(fp string, unpack func(dir string) error) error {
	final := d.ImageVolumePath(fp)
	tmp := final + ".partial"
	_ = os.RemoveAll(tmp)
	if err := os.Mkdir(tmp, 0o711); err != nil {
		return fmt.Errorf("create image volume %s: %w", fp, err)
	}
	if err := unpack(tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("create image volume %s: %w", fp, err)
	}
	return nil
}

// HasImageVolume reports whether image fp is unpacked.
func (d *Driver) HasImageVolume(fp string) bool {
	_, err := os.Stat(d.ImageVolumePath(fp))
	return err == nil
}

// DeleteImageVolume removes image fp's unpacked tree.
func (d *Driver) DeleteImageVolume(fp string) error {
	return removeAll(d.ImageVolumePath(fp))
}

// CreateInstanceFromImage copies the image's tree (reflinks where possible)
// and shifts its ownership onto the instance's id range.
func (d *Driver) CreateInstanceFromImage(name, fp string, m *idmap.Map) error {
	src := d.ImageVolumePath(fp)
	if !d.HasImageVolume(fp) {
		return fmt.Errorf("image %s has no volume in the pool", fp)
	}
	dst := d.InstancePath(name)
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("volume of instance %q already exists", name)
	}
	tmp := dst + ".partial"
	_ = removeAll(tmp)
	// One pass: copied and moved onto the instance's ids together.
	if err := copytree.Copy(src, tmp, copytree.Options{To: m}); err != nil {
		_ = removeAll(tmp)
		return fmt.Errorf("copy image %s for %q: %w", fp, name, err)
	}
	if err := os.Chmod(tmp, 0o711); err != nil {
		_ = removeAll(tmp)
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = removeAll(tmp)
		return fmt.Errorf("create volume of %q: %w", name, err)
	}
	return nil
}

// CreateEmptyInstance makes a volume with an empty rootfs.
func (d *Driver) CreateEmptyInstance(name string) error {
	dst := d.InstancePath(name)
	if err := os.Mkdir(dst, 0o711); err != nil {
		return fmt.Errorf("create volume of %q: %w", name, err)
	}
	if err := os.Mkdir(filepath.Join(dst, "rootfs"), 0o755); err != nil {
		_ = os.RemoveAll(dst)
		return fmt.Errorf("create volume of %q: %w", name, err)
	}
	return nil
}

// DeleteInstance removes the instance's volume and its snapshots.
func (d *Driver) DeleteInstance(name string) error {
	if err := removeAll(d.snapshotsDir(name)); err != nil {
		return err
	}
	return removeAll(d.InstancePath(name))
}

// RenameInstance renames the volume directory and its snapshots'.
func (d *Driver) RenameInstance(oldName, newName string) error {
	if err := os.Rename(d.InstancePath(oldName), d.InstancePath(newName)); err != nil {
		return fmt.Errorf("rename volume %q to %q: %w", oldName, newName, err)
	}
	if _, err := os.Stat(d.snapshotsDir(oldName)); err == nil {
		if err := os.Rename(d.snapshotsDir(oldName), d.snapshotsDir(newName)); err != nil {
			_ = os.Rename(d.InstancePath(newName), d.InstancePath(oldName))
			return fmt.Errorf("rename snapshots of %q: %w", oldName, err)
		}
	}
	return nil
}

// InstanceNames lists volume directories, including half-made ones (".partial").
func (d *Driver) InstanceNames() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(d.root, "containers"))
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}

// removeAll deletes a tree, first making read-only directories writable
// (an image may ship some), and treats a missing tree as gone.
func removeAll(path string) error {
	err := os.RemoveAll(path)
	if err == nil || errors.Is(err, os.ErrNotExist) {
		return nil
	}
	_ = filepath.Walk(path, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}
