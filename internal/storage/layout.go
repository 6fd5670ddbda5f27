package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/lodge-project/lodge/internal/apierr"
)

// The on-disk layout the directory-based drivers (dir, btrfs) share with
// LXD: a folder per volume type (containers, custom), snapshots in
// <type folder>-snapshots/<volume>/<snapshot>, images in images/.

// LayoutDirs are the folders of the volume types a directory pool holds.
var LayoutDirs = map[VolumeType]string{TypeContainer: "containers", TypeCustom: "custom"}

// MakePoolDirs makes (or opens) a pool's top folders, 0711: a container's
// mapped root must be able to reach its rootfs through them.
func MakePoolDirs(root string) error {
	for _, sub := range []string{"", "images", "containers", "containers-snapshots"} {
		if err := os.MkdirAll(filepath.Join(root, sub), 0o711); err != nil {
			return fmt.Errorf("create pool directory: %w", err)
		}
		if err := os.Chmod(filepath.Join(root, sub), 0o711); err != nil {
			return err
		}
	}
	return nil
}

// TypeDirMode is the mode of a type's folder. Custom volumes hold what
// instances wrote as their root, which shows on the host as host root's
// (their mounts are idmapped): no other host user may reach them, or a
// setuid binary written there would be host root's to run.
func TypeDirMode(t VolumeType) os.FileMode {
	if t == TypeCustom {
		return 0o700
	}
	return 0o711
}

// LeftoverSuffixes mark what an interrupted change leaves beside a
// volume: a half-made one, a prepared restore, one swapped out.
var LeftoverSuffixes = []string{".partial", ".restore", ".old"}

// IsLeftoverName says whether name ends in one of LeftoverSuffixes.
func IsLeftoverName(name string) bool {
	for _, s := range LeftoverSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// CheckLayoutVolume refuses, for driver, a volume of a type the layout has
// no folder for, a block volume, or a name start-up repair would take for
// a leftover.
func CheckLayoutVolume(driver string, v Volume) error {
	if _, ok := LayoutDirs[v.Type]; !ok || v.Content == ContentBlock {
		return fmt.Errorf("a %s pool does not hold %s volumes (%s)", driver, v.Type, v.Content)
	}
	if IsLeftoverName(v.Name) {
		return apierr.BadRequest("volume name %q ends in a suffix (%s) a %s pool keeps for its own use", v.Name, strings.Join(LeftoverSuffixes, ", "), driver)
	}
	return nil
}

// ListDir lists the names in a folder; a missing folder is empty.
func ListDir(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}

// Layout is a directory pool's paths, for the drivers that keep LXD's
// layout (dir, btrfs) to embed.
type Layout struct {
	Root string
}

// VolumePath is where volume v lives: <type folder>/<storage name>.
func (l Layout) VolumePath(v Volume) string {
	return filepath.Join(l.Root, LayoutDirs[v.Type], v.StorageName())
}

// SnapsDir holds v's snapshots: <type folder>-snapshots/<storage name>.
func (l Layout) SnapsDir(v Volume) string {
	return filepath.Join(l.Root, LayoutDirs[v.Type]+"-snapshots", v.StorageName())
}

// SnapPath is snapshot snap of v.
func (l Layout) SnapPath(v Volume, snap string) string { return filepath.Join(l.SnapsDir(v), snap) }

// Renames are the paths a rename of v moves, each from old to new (for
// RenamePaths and UndoRenamePaths).
func (l Layout) Renames(v Volume, newName string) [][2]string {
	to := v.Renamed(newName)
	return [][2]string{{l.VolumePath(v), l.VolumePath(to)}, {l.SnapsDir(v), l.SnapsDir(to)}}
}

// VolumeNames lists the volumes of a type on disk, leftovers of
// interrupted changes included.
func (l Layout) VolumeNames(typ VolumeType) ([]string, error) {
	dir, ok := LayoutDirs[typ]
	if !ok {
		return nil, nil
	}
	return ListDir(filepath.Join(l.Root, dir))
}
