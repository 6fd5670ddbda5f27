// Package dir is the plain-directory storage driver: volumes are directories
// (layered over their image with overlayfs where the kernel allows, see
// layered.go), copies use reflinks where the filesystem has them.
package dir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/durable"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/storage/copytree"
)

// Driver is a dir pool rooted at a directory.
type Driver struct {
	storage.Layout
	probeOnce sync.Once
	layered   bool // instances from images get layered volumes
	userns    usernsCache
	// imageMu orders image volume deletion against new references to it.
	imageMu sync.Mutex
	// Image volumes written back in the background (imagesync.go): one
	// at a time, and counted so that tests can wait for them.
	syncMu sync.Mutex
	syncs  sync.WaitGroup
	// Old trees of rebuilt volumes being removed (rebuild.go).
	removals sync.WaitGroup
	// Project quotas (quotas.go): probed once; quotaMu serialises ids.
	quotaOnce sync.Once
	quotas    bool
	quotaMu   sync.Mutex
}

// New makes (or opens) a dir pool at root.
func New(root string) (*Driver, error) {
	if err := storage.MakePoolDirs(root); err != nil {
		return nil, err
	}
	return &Driver{Layout: storage.Layout{Root: root}}, nil
}

// Name is "dir".
func (d *Driver) Name() string { return "dir" }

// Capabilities: snapshots and copies are full copies (reflinks where the
// filesystem has them); instances layer over a kept image volume where the
// kernel allows (OptimizedImages); sizes where the filesystem has project
// quotas; no block volumes yet.
func (d *Driver) Capabilities() storage.Capabilities {
	return storage.Capabilities{OptimizedImages: true, Quotas: d.quotasOn(), VolumeTypes: []storage.VolumeType{storage.TypeContainer, storage.TypeCustom, storage.TypeImage}}
}

// check refuses a volume the driver does not hold, or whose name its
// start-up cleanup would take for a leftover.
func check(v storage.Volume) error { return storage.CheckLayoutVolume("dir", v) }

// CreateVolumeFromImage makes the instance's volume from image fp on the
// map's ids: layered over the image where the kernel allows, else a copy
// (reflinks where possible) moved onto the ids in the same pass.
func (d *Driver) CreateVolumeFromImage(ctx context.Context, v storage.Volume, fp string, m *idmap.Map) error {
	if err := check(v); err != nil {
		return err
	}
	dst, name := d.VolumePath(v), v.Name
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("volume of instance %q already exists", name)
	}
	// A layered volume depends on the image from its first file on, so
	// it is made while the image cannot be deleted; a copy is on its own.
	d.imageMu.Lock()
	if !d.HasImageVolume(fp) {
		d.imageMu.Unlock()
		return fmt.Errorf("image %s has no volume in the pool", fp)
	}
	var err error
	if d.canLayer() {
		err = buildInPlace(dst, func(tmp string) error { return d.fillLayered(fp, tmp, m) })
		d.imageMu.Unlock()
	} else {
		d.imageMu.Unlock()
		err = buildInPlace(dst, func(tmp string) error { return d.fillFlat(ctx, fp, tmp, m) })
	}
	if err != nil {
		return fmt.Errorf("create volume of %q from image %s: %w", name, fp, err)
	}
	if err := d.ensureMounted(dst); err != nil {
		_ = removeAll(dst)
		return err
	}
	return nil
}

// buildInPlace makes dst by fill(dst+".partial") and a rename, so a crash
// or a failure never leaves a half-made tree under the final name. The
// tree is on disk before the rename, and the rename before it returns: the
// store's record of the volume comes next, and must not outlive its files
// (a host crash would otherwise leave an image, snapshot or copy whose
// files never reached the disk).
func buildInPlace(dst string, fill func(tmp string) error) error {
	return buildInPlaceThen(dst, fill, durable.Tree)
}

// buildInPlaceThen is buildInPlace with another step than the tree's
// sync between fill and rename (an image volume's is a marker that says
// it is written back later).
func buildInPlaceThen(dst string, fill, beforeRename func(tmp string) error) error {
	tmp := dst + ".partial"
	_ = removeAll(tmp)
	err := fill(tmp)
	if err == nil {
		err = beforeRename(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err == nil {
		err = durable.Dir(filepath.Dir(dst))
	}
	if err != nil {
		_ = removeAll(tmp)
		return err
	}
	return nil
}

// fillFlat copies the image's tree into vol, shifted onto m in one pass.
func (d *Driver) fillFlat(ctx context.Context, fp, vol string, m *idmap.Map) error {
	if err := copytree.Copy(ctx, d.imageDir(fp), vol, copytree.Options{To: m}); err != nil {
		return err
	}
	return os.Chmod(vol, 0o711)
}

// fillLayered makes an empty upper layer whose root looks like the image's.
func (d *Driver) fillLayered(fp, vol string, m *idmap.Map) error {
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(d.imageDir(fp), "rootfs"), &st); err != nil {
		return err
	}
	for _, sub := range []string{"", "rootfs", "upper"} {
		if err := os.Mkdir(filepath.Join(vol, sub), 0o711); err != nil {
			return err
		}
	}
	upper := filepath.Join(vol, "upper")
	if err := os.Lchown(upper, int(m.ShiftUID(st.Uid)), int(m.ShiftGID(st.Gid))); err != nil {
		return err
	}
	if err := os.Chmod(upper, os.FileMode(st.Mode&0o777)); err != nil {
		return err
	}
	if err := copyMetadata(d.imageDir(fp), vol); err != nil {
		return err
	}
	return writeLayer(vol, layer{Image: fp, IDMap: m})
}

// copyMetadata gives a layered volume its own metadata.yaml and
// templates/ (from its image, or from the volume it is copied from): an
// instance edits them (lxc config metadata, lxc config template), and its
// backups and published images carry them, as a flat copy's do.
func copyMetadata(from, to string) error {
	for _, name := range []string{"metadata.yaml", "templates"} {
		src := filepath.Join(from, name)
		st, err := os.Lstat(src)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if (name == "metadata.yaml" && !st.Mode().IsRegular()) || (name == "templates" && !st.IsDir()) {
			continue // an image's tree is checked at import; never follow a link here
		}
		if name == "metadata.yaml" {
			err = copytree.CopyFile(src, filepath.Join(to, name))
		} else {
			err = copytree.Copy(context.Background(), src, filepath.Join(to, name), copytree.Options{})
		}
		if err != nil {
			return fmt.Errorf("copy %s: %w", name, err)
		}
	}
	return nil
}

// CreateEmptyVolume makes a volume with an empty rootfs.
func (d *Driver) CreateEmptyVolume(v storage.Volume) error {
	if err := check(v); err != nil {
		return err
	}
	dst, name := d.VolumePath(v), v.Name
	if err := os.MkdirAll(filepath.Dir(dst), storage.TypeDirMode(v.Type)); err != nil {
		return err
	}
	if err := os.Mkdir(dst, 0o711); err != nil {
		return fmt.Errorf("create volume of %q: %w", name, err)
	}
	if v.Type == storage.TypeCustom {
		return nil // a custom volume is its directory; an instance's holds rootfs/
	}
	if err := os.Mkdir(filepath.Join(dst, "rootfs"), 0o755); err != nil {
		_ = os.RemoveAll(dst)
		return fmt.Errorf("create volume of %q: %w", name, err)
	}
	return nil
}

// DeleteVolume removes the volume and its snapshots.
func (d *Driver) DeleteVolume(v storage.Volume) error {
	if err := d.removeSnapshots(v); err != nil {
		return err
	}
	d.dropQuota(d.VolumePath(v))
	return d.removeVolume(d.VolumePath(v))
}

// removeVolume unmounts and deletes an instance volume or a snapshot, then
// the image it was layered on if that was deleted and this was its last user.
func (d *Driver) removeVolume(vol string) error {
	l, _ := readLayer(vol)
	if err := unmountRootfs(vol); err != nil {
		return err
	}
	if err := removeAll(vol); err != nil {
		return err
	}
	if l != nil {
		return d.collectImage(l.Image)
	}
	return nil
}

// RenameVolume renames the volume directory and its snapshots'.
func (d *Driver) RenameVolume(v storage.Volume, newName string) error {
	if err := storage.RenamePaths(d.Renames(v, newName)); err != nil {
		return fmt.Errorf("rename volume %q to %q: %w", v.Name, newName, err)
	}
	return nil
}

// UndoRename moves back what a rename cut short moved: the volume and the
// snapshots, each where it is at the new name and not at the old.
func (d *Driver) UndoRename(v storage.Volume, newName string) error {
	if err := storage.UndoRenamePaths(d.Renames(v, newName)); err != nil {
		return fmt.Errorf("undo the rename of %q to %q: %w", v.Name, newName, err)
	}
	return nil
}

// RemoveLeftovers removes the volumes interrupted changes left. Run after
// RepairVolume, which puts back a volume a restore moved aside, what is
// left is no one's.
func (d *Driver) RemoveLeftovers() ([]string, error) {
	var removed []string
	rebuilt, _ := filepath.Glob(filepath.Join(d.Root, rebuiltPrefix+"*"))
	for _, t := range rebuilt {
		if err := removeAll(t); err != nil {
			return removed, err
		}
		removed = append(removed, filepath.Base(t))
	}
	views, _ := filepath.Glob(filepath.Join(d.Root, viewPrefix+"*"))
	for _, v := range views {
		if err := unmountRootfs(v); err != nil {
			return removed, err
		}
		if err := os.RemoveAll(v); err != nil {
			return removed, err
		}
		removed = append(removed, filepath.Base(v))
	}
	for _, dir := range storage.LayoutDirs {
		entries, err := os.ReadDir(filepath.Join(d.Root, dir))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return removed, err
		}
		for _, e := range entries {
			if storage.IsLeftoverName(e.Name()) {
				if err := d.removeVolume(filepath.Join(d.Root, dir, e.Name())); err != nil {
					return removed, err
				}
				removed = append(removed, filepath.Join(dir, e.Name()))
			}
		}
	}
	return removed, nil
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

// MountVolume makes sure a layered volume's overlay is mounted, so that
// nothing starts on, or writes into, its bare mount point.
func (d *Driver) MountVolume(v storage.Volume) error {
	return d.ensureMounted(d.VolumePath(v))
}

// UnmountVolume unmounts a layered volume's overlay (a flat volume has
// none); MountVolume or RepairVolume mounts it again.
func (d *Driver) UnmountVolume(v storage.Volume) error {
	return unmountRootfs(d.VolumePath(v))
}

// RemapVolume moves the volume's files from one id map to another (nil:
// host ids); a layered volume shifts its upper layer and sees the image
// through the new map. A failure puts back what was shifted.
func (d *Driver) RemapVolume(v storage.Volume, from, to *idmap.Map) error {
	vol := d.VolumePath(v)
	l, err := readLayer(vol)
	if err != nil {
		return err
	}
	tree := filepath.Join(vol, "rootfs")
	if l != nil {
		if err := unmountRootfs(vol); err != nil {
			return err
		}
		tree = filepath.Join(vol, "upper")
	}
	err = idmap.Reshift(tree, from, to)
	if err == nil && l != nil {
		err = writeLayer(vol, layer{Image: l.Image, IDMap: to})
	}
	if err != nil {
		_ = idmap.Reshift(tree, to, from)
		_ = d.ensureMounted(vol)
		return fmt.Errorf("remap volume of %q: %w", v.Name, err)
	}
	return d.ensureMounted(vol)
}
