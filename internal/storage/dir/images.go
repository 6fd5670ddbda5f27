package dir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/lodge-project/lodge/internal/durable"
)

// An image volume is images/<fp>, unpacked once. Layered volumes read it
// for as long as they exist, so deleting an image that one still uses
// only marks it retired (images/<fp>.retired); the tree goes with its
// last user, or comes back into use if the same image is added again.

// ImageVolumePath is where image fp is unpacked.
func (d *Driver) ImageVolumePath(fp string) string { return d.imageDir(fp) }

func (d *Driver) imageDir(fp string) string { return filepath.Join(d.Root, "images", fp) }

func (d *Driver) retiredMarker(fp string) string { return d.imageDir(fp) + ".retired" }

// CreateImageVolume unpacks into a temporary directory and renames it into
// place, so a crash never leaves a half-unpacked image that looks whole.
func (d *Driver) CreateImageVolume(fp string, unpack func(dir string) error) error {
	d.imageMu.Lock()
	if _, err := os.Stat(d.retiredMarker(fp)); err == nil {
		// Still unpacked for the instances layered on it: the same
		// fingerprint is the same content.
		defer d.imageMu.Unlock()
		return os.Remove(d.retiredMarker(fp))
	}
	d.imageMu.Unlock()
	var unpackErr error // the image's own fault, reported as it is
	var mark string
	err := buildInPlaceThen(d.imageDir(fp), func(tmp string) error {
		if err := os.Mkdir(tmp, 0o711); err != nil {
			return err
		}
		unpackErr = unpack(tmp)
		return unpackErr
	}, func(string) (err error) {
		mark, err = d.markUnsynced(fp) // written back later (imagesync.go)
		return err
	})
	if unpackErr != nil {
		return unpackErr
	}
	if err != nil {
		if mark != "" {
			_ = os.Remove(d.unsyncedMarker(fp))
		}
		return fmt.Errorf("create image volume %s: %w", fp, err)
	}
	d.syncLater(fp, mark)
	return nil
}

// HasImageVolume reports whether image fp is unpacked and not retired.
func (d *Driver) HasImageVolume(fp string) bool {
	if _, err := os.Stat(d.retiredMarker(fp)); err == nil {
		return false
	}
	_, err := os.Stat(d.imageDir(fp))
	return err == nil
}

// ImageVolumeNames lists images/: unpacked images and half-made ones
// (".partial"), not retired ones.
func (d *Driver) ImageVolumeNames() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(d.Root, "images"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".retired") || strings.HasSuffix(name, unsyncedSuffix) || exists(d.retiredMarker(name)) {
			continue
		}
		names = append(names, name)
	}
	return names, nil
}

// DeleteImageVolume removes image fp's unpacked tree, or retires it while
// layered volumes still use it.
func (d *Driver) DeleteImageVolume(fp string) error {
	d.imageMu.Lock()
	defer d.imageMu.Unlock()
	users, err := d.imageUsers()
	if err != nil {
		return fmt.Errorf("delete image volume %s: %w", fp, err)
	}
	if users[fp] {
		// Its image file goes now, and start-up could not unpack it
		// again: a retired volume is written back first.
		if exists(d.unsyncedMarker(fp)) {
			if err := durable.Tree(d.imageDir(fp)); err != nil {
				return fmt.Errorf("retire image volume %s: %w", fp, err)
			}
			if err := d.endUnsynced(fp, ""); err != nil {
				return fmt.Errorf("retire image volume %s: %w", fp, err)
			}
		}
		f, err := os.Create(d.retiredMarker(fp))
		if err != nil {
			return fmt.Errorf("retire image volume %s: %w", fp, err)
		}
		return f.Close()
	}
	if err := removeAll(d.imageDir(fp)); err != nil {
		return err
	}
	return removeAll(d.unsyncedMarker(fp))
}

// collectImage removes a retired image once no volume uses it.
func (d *Driver) collectImage(fp string) error {
	d.imageMu.Lock()
	defer d.imageMu.Unlock()
	if _, err := os.Stat(d.retiredMarker(fp)); err != nil {
		return nil
	}
	users, err := d.imageUsers()
	if err != nil || users[fp] {
		return err
	}
	if err := removeAll(d.imageDir(fp)); err != nil {
		return err
	}
	return os.Remove(d.retiredMarker(fp))
}

// imageUsers lists the images layered volumes and snapshots are made on.
func (d *Driver) imageUsers() (map[string]bool, error) {
	var layers []string
	for _, pattern := range []string{"containers/*/" + layerFile, "containers-snapshots/*/*/" + layerFile} {
		found, err := filepath.Glob(filepath.Join(d.Root, pattern))
		if err != nil {
			return nil, err
		}
		layers = append(layers, found...)
	}
	users := map[string]bool{}
	for _, f := range layers {
		l, err := readLayer(filepath.Dir(f))
		if errors.Is(err, os.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		if l != nil {
			users[l.Image] = true
		}
	}
	return users, nil
}
