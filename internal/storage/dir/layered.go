package dir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/storage"
)

// A layered volume is what an instance made from an image gets when the
// kernel allows it: rootfs/ is an overlayfs mount whose lower layer is the
// image's unpacked tree, seen through an idmapped mount on the instance's
// ids, and whose upper layer (upper/) holds only what the instance changed,
// already on those ids. A launch copies nothing; a snapshot or a copy
// copies upper/ only. layer.json names the image and the id map upper/ is
// on; a volume without it is flat (rootfs/ is a plain tree).
//
// The overlay stays mounted while the volume exists (files are read and
// written through rootfs/ whether the instance runs or not) and is mounted
// again by RepairInstance after a host reboot.

const layerFile = "layer.json"

type layer struct {
	Image string     `json:"image"`
	IDMap *idmap.Map `json:"idmap,omitempty"`
}

// readLayer returns the volume's layer, or nil for a flat volume.
func readLayer(vol string) (*layer, error) {
	data, err := os.ReadFile(filepath.Join(vol, layerFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var l layer
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("%s of %s: %w", layerFile, vol, err)
	}
	return &l, nil
}

// writeLayer replaces layer.json atomically and durably.
func writeLayer(vol string, l layer) error {
	data, err := json.Marshal(l)
	if err != nil {
		return err
	}
	tmp := filepath.Join(vol, layerFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, filepath.Join(vol, layerFile))
}

// unmountRootfs detaches whatever is mounted on vol/rootfs.
func unmountRootfs(vol string) error {
	rootfs := filepath.Join(vol, "rootfs")
	for i := 0; storage.IsMountRoot(rootfs); i++ {
		if err := unix.Unmount(rootfs, unix.MNT_DETACH); err != nil || i > 8 {
			return fmt.Errorf("unmount %s: %v", rootfs, err)
		}
	}
	return nil
}

// usernsCache keeps the user namespace of the last map used: instances
// share their map unless isolated, so most mounts reuse one.
type usernsCache struct {
	mu  sync.Mutex
	key idmap.Map
	fd  int
}

// with calls use with an fd of a user namespace holding m.
func (c *usernsCache) with(m *idmap.Map, use func(fd int) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd <= 0 || !idmap.Equal(&c.key, m) {
		fd, err := idmap.OpenUserns(m)
		if err != nil {
			return err
		}
		c.close()
		c.key, c.fd = *m, fd
	}
	return use(c.fd)
}

func (c *usernsCache) close() {
	if c.fd > 0 {
		unix.Close(c.fd)
		c.fd = 0
	}
}

// mountLayered mounts the volume's overlay on vol/rootfs unless it is.
func (d *Driver) mountLayered(vol string, l *layer) error {
	rootfs := filepath.Join(vol, "rootfs")
	if storage.IsMountRoot(rootfs) {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(vol, "work"), 0o700); err != nil {
		return err
	}
	if err := d.mountOverlay(rootfs, l, filepath.Join(vol, "upper"), filepath.Join(vol, "work")); err != nil {
		return err
	}
	entries, err := d.aclEntries(l.Image)
	if err == nil {
		err = copyUpACLs(vol, entries)
	}
	if err != nil {
		_ = unmountRootfs(rootfs)
		return fmt.Errorf("copy up the image's entries with ACLs: %w", err)
	}
	return nil
}

// mountOverlay mounts on target an overlay of the image l names (seen
// through an idmapped mount on l's map) under upper, writable through
// work; with no work directory, upper is one more read-only layer.
func (d *Driver) mountOverlay(target string, l *layer, upper, work string) error {
	lower := filepath.Join(d.imageDir(l.Image), "rootfs")
	treeFd, err := unix.OpenTree(unix.AT_FDCWD, lower, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("open image %s for %s: %w", l.Image, target, err)
	}
	defer unix.Close(treeFd)
	if l.IDMap != nil {
		err := d.userns.with(l.IDMap, func(usernsFd int) error {
			return unix.MountSetattr(treeFd, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(usernsFd)})
		})
		if err != nil {
			return fmt.Errorf("idmap image %s for %s: %w", l.Image, target, err)
		}
	}
	fsFd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("overlayfs: %w", err)
	}
	defer unix.Close(fsFd)
	type step struct {
		what string
		run  func() error
	}
	var steps []step
	if work == "" {
		steps = append(steps, step{"upper layer, read-only", func() error { return unix.FsconfigSetString(fsFd, "lowerdir+", upper) }})
	}
	steps = append(steps, step{"lower layer", func() error { return unix.FsconfigSetFd(fsFd, "lowerdir+", treeFd) }})
	if work != "" {
		steps = append(steps,
			step{"upper layer", func() error { return unix.FsconfigSetString(fsFd, "upperdir", upper) }},
			step{"work directory", func() error { return unix.FsconfigSetString(fsFd, "workdir", work) }})
	}
	steps = append(steps, step{"superblock", func() error { return unix.FsconfigCreate(fsFd) }})
	for _, s := range steps {
		if err := s.run(); err != nil {
			return fmt.Errorf("overlay of %s: %s: %w", target, s.what, err)
		}
	}
	mntFd, err := unix.Fsmount(fsFd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("overlay of %s: %w", target, err)
	}
	defer unix.Close(mntFd)
	if err := unix.MoveMount(mntFd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("mount overlay on %s: %w", target, err)
	}
	return nil
}

// ensureMounted mounts a layered volume's overlay if it is not mounted.
func (d *Driver) ensureMounted(vol string) error {
	l, err := readLayer(vol)
	if err != nil || l == nil {
		return err
	}
	return d.mountLayered(vol, l)
}

// canLayer says, once, whether this kernel and filesystem take an overlay
// over an idmapped image (fd layers: Linux 6.13), trying it in the pool.
func (d *Driver) canLayer() bool {
	d.probeOnce.Do(func() {
		probe := filepath.Join(d.Root, ".layer-probe")
		_ = removeAll(probe)
		defer func() { _ = unmountRootfs(filepath.Join(probe, "vol")); _ = removeAll(probe) }()
		for _, sub := range []string{"images/p/rootfs", "vol/upper", "vol/rootfs"} {
			if err := os.MkdirAll(filepath.Join(probe, sub), 0o755); err != nil {
				return
			}
		}
		m := &idmap.Map{HostUID: 1 << 30, HostGID: 1 << 30, Size: 1}
		probeDriver := &Driver{Layout: storage.Layout{Root: probe}}
		defer probeDriver.userns.close()
		d.layered = probeDriver.mountLayered(filepath.Join(probe, "vol"), &layer{Image: "p", IDMap: m}) == nil
	})
	return d.layered
}

// CanLayerIn says whether this kernel takes an overlay over an idmapped
// image on the filesystem of dir (a scratch directory it may fill and
// empty): what a layered dir pool there needs. lodge check asks it.
func CanLayerIn(dir string) bool {
	return (&Driver{Layout: storage.Layout{Root: dir}}).canLayer()
}
