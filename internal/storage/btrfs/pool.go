package btrfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/limits"
	"github.com/lodge-project/lodge/internal/revert"
	"github.com/lodge-project/lodge/internal/storage"
)

// A btrfs pool is on one of three things, as in LXD:
//   - nothing given: a sparse loop file, $LODGE_DIR/disks/<pool>.img, of
//     size bytes (by default 20% of the disk, from 5 to 30 GiB), formatted
//     and mounted at $LODGE_DIR/storage-pools/<pool>;
//   - an empty block device: formatted and mounted there;
//   - a directory on a btrfs filesystem (empty, or made as a subvolume):
//     used where it is.
// Mounts are made again when lodged opens the pool after a reboot, and
// left in place when lodged stops, since running instances use them.

// mountOptions are the default btrfs.mount_options: LXD's, which let a
// container delete the subvolumes it makes.
const mountOptions = "user_subvol_rm_allowed"

// minLoopSize is the smallest loop file a pool gets: mkfs.btrfs needs
// about 114 MiB, and a pool must hold an image.
const minLoopSize = 256 << 20

// backing is what a pool lodged mounts is on.
type backing struct {
	source     string // the loop file or block device
	loopFile   bool   // a loop file lodged made, which goes with the pool
	mountPoint string
}

// Type is the btrfs driver as the registry knows it.
func Type() storage.DriverType {
	return storage.DriverType{
		Keys:   map[string]bool{"source": false, "size": false, "btrfs.mount_options": false},
		Create: create,
		Open:   open,
	}
}

// create makes the pool's filesystem (or checks the directory it is
// given) and opens it.
func create(ctx context.Context, spec storage.PoolSpec) (_ storage.Driver, _ map[string]string, err error) {
	for _, tool := range []string{"mkfs.btrfs", "btrfs"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, nil, apierr.BadRequest("btrfs pools need %s, which this host lacks: install btrfs-progs", tool)
		}
	}
	cfg := map[string]string{}
	for k, v := range spec.Config {
		cfg[k] = v
	}
	var r revert.Reverter
	defer func() { err = r.Fail(err) }()
	src := cfg["source"]
	switch {
	case src == "":
		img, size, err := makeLoopFile(spec.DisksDir, spec.Name, cfg["size"])
		if err != nil {
			return nil, nil, err
		}
		r.Add("make "+img, func() error { return os.Remove(img) })
		if err := mkfs(ctx, img, spec.Name); err != nil {
			return nil, nil, err
		}
		cfg["source"], cfg["size"] = img, size
	case isBlockDevice(src):
		if cfg["size"] != "" {
			return nil, nil, apierr.BadRequest("size applies to a pool on a loop file only; a device pool is the device's size")
		}
		if err := checkBlank(ctx, src); err != nil {
			return nil, nil, err
		}
		if err := mkfs(ctx, src, spec.Name); err != nil {
			return nil, nil, err
		}
	case isRegular(src):
		return nil, nil, apierr.BadRequest("source %s is a file: give an empty block device, a directory on btrfs, or no source for a loop file lodged makes", src)
	default:
		if cfg["size"] != "" {
			return nil, nil, apierr.BadRequest("size applies to a pool on a loop file only; a pool in a directory shares its filesystem")
		}
		if cfg["btrfs.mount_options"] != "" {
			return nil, nil, apierr.BadRequest("btrfs.mount_options applies to a pool lodged mounts (a loop file or a device), not to a directory")
		}
		if !onBtrfs(nearestExisting(src)) {
			return nil, nil, apierr.BadRequest("source %s is not on a btrfs filesystem: give a directory on btrfs, an empty block device, or no source for a loop file", src)
		}
		if !exists(src) {
			if err := createSubvolume(src); err != nil {
				return nil, nil, err
			}
			r.Add("make "+src, func() error { return deleteSubvolume(src) })
		}
	}
	spec.Config = cfg
	d, err := open(spec)
	if err != nil {
		return nil, nil, err
	}
	r.Success()
	return d, cfg, nil
}

// open mounts the pool's filesystem if it is on a file or a device and is
// not mounted yet, then opens the pool.
func open(spec storage.PoolSpec) (storage.Driver, error) {
	src := spec.Config["source"]
	if src == "" || !(isBlockDevice(src) || isRegular(src)) {
		return New(spec.Root)
	}
	b := &backing{source: src, mountPoint: spec.Root,
		loopFile: isRegular(src) && filepath.Dir(src) == spec.DisksDir}
	if err := b.mount(spec.Config["btrfs.mount_options"]); err != nil {
		return nil, err
	}
	d, err := New(spec.Root)
	if err != nil {
		return nil, err
	}
	d.backing = b
	return d, nil
}

// mount mounts the pool's filesystem at its mount point unless it is
// there already (lodged restarted while instances ran).
func (b *backing) mount(options string) error {
	if err := os.MkdirAll(b.mountPoint, 0o711); err != nil {
		return err
	}
	if storage.IsMountRoot(b.mountPoint) {
		if !onBtrfs(b.mountPoint) {
			return fmt.Errorf("%s has another filesystem mounted on it", b.mountPoint)
		}
		return nil
	}
	if options == "" {
		options = mountOptions
	}
	if isRegular(b.source) {
		// mount(8) attaches the loop device and marks it to go when the
		// filesystem is unmounted.
		options = "loop," + options
	}
	out, err := exec.Command("mount", "-t", "btrfs", "-o", options, b.source, b.mountPoint).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mount %s on %s: %v: %s", b.source, b.mountPoint, err, bytes.TrimSpace(out))
	}
	return nil
}

// Destroy unmounts a pool lodged mounted and removes its loop file; a
// device stays formatted, and a directory stays where it is.
func (d *Driver) Destroy() error {
	b := d.backing
	if b == nil {
		return nil
	}
	if storage.IsMountRoot(b.mountPoint) {
		if err := unix.Unmount(b.mountPoint, 0); err != nil {
			return fmt.Errorf("unmount %s: %w", b.mountPoint, err)
		}
	}
	if b.loopFile {
		if err := os.Remove(b.source); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// makeLoopFile makes the sparse loop file of a new pool and returns its
// path and size as recorded.
func makeLoopFile(disks, pool, size string) (string, string, error) {
	if err := os.MkdirAll(disks, 0o700); err != nil {
		return "", "", err
	}
	if size == "" {
		size = defaultLoopSize(disks)
	}
	n, err := limits.ParseSize(size)
	if err != nil {
		return "", "", apierr.BadRequest("size: %v", err)
	}
	if n < minLoopSize {
		return "", "", apierr.BadRequest("size %s is too small for a btrfs pool: give at least 256MiB", size)
	}
	img := filepath.Join(disks, pool+".img")
	f, err := os.OpenFile(img, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, os.ErrExist) {
		return "", "", apierr.Conflict("%s is left from an earlier pool; remove it first", img)
	}
	if err != nil {
		return "", "", err
	}
	err = f.Truncate(n)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(img)
		return "", "", fmt.Errorf("make %s: %w", img, err)
	}
	return img, size, nil
}

// defaultLoopSize is LXD's rule: a fifth of the disk lodged's state is
// on, no less than 5 GiB and no more than 30 GiB.
func defaultLoopSize(dir string) string {
	var st unix.Statfs_t
	gib := uint64(5)
	if unix.Statfs(dir, &st) == nil {
		gib = uint64(st.Frsize) * st.Blocks / (1 << 30) / 5
	}
	return fmt.Sprintf("%dGiB", min(max(gib, 5), 30))
}

// mkfs formats dev (a file or a device) as btrfs labelled with the pool.
func mkfs(ctx context.Context, dev, label string) error {
	out, err := exec.CommandContext(ctx, "mkfs.btrfs", "-q", "-L", label, dev).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mkfs.btrfs %s: %v: %s", dev, err, bytes.TrimSpace(out))
	}
	return nil
}

// checkBlank refuses a device that holds a filesystem, a partition table
// or anything else blkid recognises: a pool never formats over data.
func checkBlank(ctx context.Context, dev string) error {
	out, err := exec.CommandContext(ctx, "blkid", "-p", "-o", "export", dev).Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 2 {
		return nil // nothing found
	}
	if err != nil {
		return fmt.Errorf("blkid %s: %w", dev, err)
	}
	what := "data"
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "TYPE="); ok {
			what = "a " + v + " filesystem"
		} else if v, ok := strings.CutPrefix(line, "PTTYPE="); ok {
			what = "a " + v + " partition table"
		}
	}
	return apierr.BadRequest("source %s holds %s: give an empty device (wipefs -a %s erases it)", dev, what, dev)
}

func isBlockDevice(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0
}

func isRegular(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// nearestExisting is path or its nearest existing parent.
func nearestExisting(path string) string {
	for p := path; ; p = filepath.Dir(p) {
		if exists(p) || p == "/" {
			return p
		}
	}
}
