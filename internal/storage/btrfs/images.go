package btrfs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/lodge-project/lodge/internal/durable"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/storage"
)

// An image volume is images/<fp>: a subvolume unpacked once and then made
// read-only. Instances are snapshots, which do not depend on it, so an
// image volume goes as soon as the image does.
//
// Unprivileged instances need the image's files on their id map. Rather
// than chown every file of every new instance (as LXD does on btrfs), the
// pool keeps the image shifted onto each map in use (images/<fp>@<map>),
// made by the first instance on that map; most instances share one map,
// so a launch is a single snapshot.

// ImageVolumePath is where image fp is unpacked.
func (d *Driver) ImageVolumePath(fp string) string { return filepath.Join(d.Root, "images", fp) }

// shiftedPath is image fp shifted onto m.
func (d *Driver) shiftedPath(fp string, m *idmap.Map) string {
	data, _ := json.Marshal(m)
	sum := sha256.Sum256(data)
	return d.ImageVolumePath(fp) + "@" + hex.EncodeToString(sum[:8])
}

// CreateImageVolume unpacks into images/<fp>.partial, makes it read-only
// and renames it into place, so a crash never leaves a half-unpacked
// image that looks whole.
func (d *Driver) CreateImageVolume(fp string, unpack func(dir string) error) error {
	dst := d.ImageVolumePath(fp)
	if exists(dst) {
		return nil
	}
	tmp := dst + ".partial"
	if err := deleteSubvolume(tmp); err != nil {
		return err
	}
	if err := createSubvolume(tmp); err != nil {
		return fmt.Errorf("create image volume %s: %w", fp, err)
	}
	if err := os.Chmod(tmp, 0o711); err != nil {
		_ = deleteSubvolume(tmp)
		return err
	}
	if err := unpack(tmp); err != nil {
		_ = deleteSubvolume(tmp)
		return err // the image's own fault, reported as it is
	}
	err := sealInPlace(tmp, dst)
	if err != nil {
		_ = deleteSubvolume(tmp)
		return fmt.Errorf("create image volume %s: %w", fp, err)
	}
	return nil
}

// sealInPlace makes the subvolume tmp read-only, commits it to disk and
// renames it to dst.
func sealInPlace(tmp, dst string) error {
	if err := setReadOnly(tmp, true); err != nil {
		return err
	}
	if err := durable.Filesystem(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	return durable.Dir(filepath.Dir(dst))
}

// shiftedImage is image fp as instances on map m start from: the image
// itself for nil (a privileged instance), else its shifted copy, made now
// if it is missing. The caller holds imageMu.
func (d *Driver) shiftedImage(ctx context.Context, fp string, m *idmap.Map) (string, error) {
	img := d.ImageVolumePath(fp)
	if !exists(img) {
		return "", fmt.Errorf("image %s has no volume in the pool", fp)
	}
	if m == nil {
		return img, nil
	}
	dst := d.shiftedPath(fp, m)
	if exists(dst) {
		return dst, nil
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	tmp := dst + ".partial"
	if err := deleteSubvolume(tmp); err != nil {
		return "", err
	}
	if err := snapshot(img, tmp, false); err != nil {
		return "", err
	}
	err := idmap.Reshift(filepath.Join(tmp, "rootfs"), nil, m)
	if err == nil {
		err = sealInPlace(tmp, dst)
	}
	if err != nil {
		_ = deleteSubvolume(tmp)
		return "", fmt.Errorf("shift the image onto the instance's ids: %w", err)
	}
	return dst, nil
}

// HasImageVolume reports whether image fp is unpacked.
func (d *Driver) HasImageVolume(fp string) bool { return exists(d.ImageVolumePath(fp)) }

// ImageVolumeNames lists images/: unpacked images and half-made ones
// (".partial"), not the shifted copies, which belong to their image.
func (d *Driver) ImageVolumeNames() ([]string, error) {
	names, err := storage.ListDir(filepath.Join(d.Root, "images"))
	if err != nil {
		return nil, err
	}
	out := names[:0]
	for _, n := range names {
		if !strings.Contains(n, "@") {
			out = append(out, n)
		}
	}
	return out, nil
}

// DeleteImageVolume destroys image fp's subvolume and its shifted copies.
func (d *Driver) DeleteImageVolume(fp string) error {
	d.imageMu.Lock()
	defer d.imageMu.Unlock()
	names, err := storage.ListDir(filepath.Join(d.Root, "images"))
	if err != nil {
		return err
	}
	for _, n := range names {
		if strings.HasPrefix(n, fp+"@") {
			if err := deleteSubvolume(filepath.Join(d.Root, "images", n)); err != nil {
				return fmt.Errorf("delete image volume %s: %w", fp, err)
			}
		}
	}
	if err := deleteSubvolume(d.ImageVolumePath(fp)); err != nil {
		return fmt.Errorf("delete image volume %s: %w", fp, err)
	}
	return nil
}
