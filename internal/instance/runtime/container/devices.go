package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	devconfig "github.com/opencontainers/cgroups/devices/config"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/idmap"
	lrt "github.com/lodge-project/lodge/internal/instance/runtime"
)

func unixRule(u UnixDev) devconfig.Rule {
	t := devconfig.CharDevice
	if u.Block {
		t = devconfig.BlockDevice
	}
	return devconfig.Rule{Type: t, Major: u.Major, Minor: u.Minor, Permissions: "rwm", Allow: true}
}

func unixMount(u UnixDev) *configs.Mount {
	return &configs.Mount{Source: u.Source, Destination: u.Path, Device: "bind", Flags: unix.MS_BIND}
}

// diskMount is a disk as a libcontainer bind mount: nosuid and nodev
// always, so nothing the container makes in a shared directory is a setuid
// binary or a device node to whoever on the host reaches it; idmapped with
// the container's map when the disk asks for shift.
func diskMount(d Disk, m *idmap.Map) *configs.Mount {
	flags := unix.MS_BIND | unix.MS_REC | unix.MS_NOSUID | unix.MS_NODEV
	if d.ReadOnly {
		flags |= unix.MS_RDONLY
	}
	mnt := &configs.Mount{Source: d.Source, Destination: d.Path, Device: "bind", Flags: flags}
	if m != nil && d.Shift {
		uids, gids := idMappings(m)
		mnt.IDMapping = &configs.MountIDMapping{Recursive: true, UIDMappings: uids, GIDMappings: gids}
	}
	return mnt
}

// inMountNS runs fn on a thread that has joined pid's mount namespace. The
// thread is thrown away afterwards rather than returned to Go's pool.
func inMountNS(pid int, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare fs: %w", err)
			return
		}
		fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/mnt", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNS); err != nil {
			errc <- fmt.Errorf("join mount namespace: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// cloneMount makes a detached copy of a host path's mount with attr set
// on it (idmapped on pid's user namespace when idmapped is set), ready to
// be moved into a container.
func cloneMount(source string, attr unix.MountAttr, idmapped bool, pid int) (int, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, source, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return -1, fmt.Errorf("clone %s: %w", source, err)
	}
	if idmapped {
		userns, err := unix.Open(fmt.Sprintf("/proc/%d/ns/user", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			unix.Close(fd)
			return -1, err
		}
		defer unix.Close(userns)
		attr.Attr_set |= unix.MOUNT_ATTR_IDMAP
		attr.Userns_fd = uint64(userns)
	}
	if attr.Attr_set != 0 {
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("set mount attributes on %s: %w", source, err)
		}
	}
	return fd, nil
}

// diskAttr is diskMount's flags as mount attributes, for hot-plug.
func diskAttr(d Disk) unix.MountAttr {
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if d.ReadOnly {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	return attr
}

// attachMount moves a cloned mount onto target inside the container,
// making the target (a directory, or a file for a file source) first.
func attachMount(pid int, mountFd int, target string, isDir bool, owner *idmap.Map) error {
	return inMountNS(pid, func() error {
		// Create what is missing as the container's root, not the host's.
		if owner != nil {
			unix.Setfsuid(int(owner.ShiftUID(0)))
			unix.Setfsgid(int(owner.ShiftGID(0)))
		}
		if isDir {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		} else {
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o644)
			if err != nil {
				return err
			}
			f.Close()
		}
		unix.Setfsuid(0)
		unix.Setfsgid(0)
		if err := unix.MoveMount(mountFd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return fmt.Errorf("mount onto %s: %w", target, err)
		}
		return nil
	})
}

func (d *Driver) running(name string) (*libcontainer.Container, int, error) {
	c, err := libcontainer.Load(d.root, name)
	if err != nil {
		return nil, 0, err
	}
	st, err := c.State()
	if err != nil {
		return nil, 0, err
	}
	return c, st.InitProcessPid, nil
}

// Attach plugs a disk, unix device or NIC into a running container.
func (d *Driver) Attach(name string, m *idmap.Map, dev lrt.Device) error {
	switch dev := dev.(type) {
	case Disk:
		return d.attachDisk(name, dev, m)
	case UnixDev:
		return d.attachUnixDev(name, dev, m)
	case NIC:
		return d.attachNIC(name, dev)
	}
	return fmt.Errorf("a container cannot plug a %T", dev)
}

// Detach unplugs what Attach plugged.
func (d *Driver) Detach(name string, dev lrt.Device) error {
	switch dev := dev.(type) {
	case Disk:
		return d.unmount(name, dev.Path)
	case UnixDev:
		return d.detachUnixDev(name, dev)
	case NIC:
		return d.detachNIC(name, dev)
	}
	return fmt.Errorf("a container cannot unplug a %T", dev)
}

// attachDisk bind-mounts a host path into a running container.
func (d *Driver) attachDisk(name string, disk Disk, m *idmap.Map) error {
	defer d.lock(name)()
	_, pid, err := d.running(name)
	if err != nil {
		return nil // not running: the next start mounts it
	}
	st, err := os.Stat(disk.Source)
	if err != nil {
		return fmt.Errorf("disk source: %w", err)
	}
	fd, err := cloneMount(disk.Source, diskAttr(disk), m != nil && disk.Shift, pid)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return attachMount(pid, fd, disk.Path, st.IsDir(), m)
}

// unmount unmounts a path inside a running container.
func (d *Driver) unmount(name, path string) error {
	defer d.lock(name)()
	_, pid, err := d.running(name)
	if err != nil {
		return nil
	}
	return inMountNS(pid, func() error {
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			return fmt.Errorf("unmount %s: %w", path, err)
		}
		return nil
	})
}

// attachUnixDev allows a device in the container's device cgroup and binds
// the host's node into it.
func (d *Driver) attachUnixDev(name string, dev UnixDev, m *idmap.Map) error {
	defer d.lock(name)()
	c, pid, err := d.running(name)
	if err != nil {
		return nil
	}
	cfg := c.Config()
	rule := unixRule(dev)
	cfg.Cgroups.Resources.Devices = append(cfg.Cgroups.Resources.Devices, &rule)
	if err := c.Set(cfg); err != nil {
		return fmt.Errorf("allow device %d:%d: %w", dev.Major, dev.Minor, err)
	}
	fd, err := cloneMount(dev.Source, unix.MountAttr{}, false, pid)
	if err == nil {
		defer unix.Close(fd)
		// The node's mount point is made as the container's root: /dev is a
		// tmpfs of the container's user namespace, where host root has no id.
		err = attachMount(pid, fd, dev.Path, false, m)
	}
	if err != nil {
		// Nothing of a failed hot-plug stays: the mount point made for
		// it, then the cgroup rule.
		_ = inMountNS(pid, func() error { return removeMountPoint(dev.Path) })
		cfg.Cgroups.Resources.Devices = cfg.Cgroups.Resources.Devices[:len(cfg.Cgroups.Resources.Devices)-1]
		if rerr := c.Set(cfg); rerr != nil {
			return errors.Join(err, fmt.Errorf("take back the cgroup rule for %d:%d: %w", dev.Major, dev.Minor, rerr))
		}
		return err
	}
	return nil
}

// detachUnixDev removes a device node and its cgroup rule.
func (d *Driver) detachUnixDev(name string, dev UnixDev) error {
	if err := d.unmount(name, dev.Path); err != nil {
		return err
	}
	defer d.lock(name)()
	c, pid, err := d.running(name)
	if err != nil {
		return nil
	}
	_ = inMountNS(pid, func() error { return removeMountPoint(dev.Path) })
	cfg := c.Config()
	rules := cfg.Cgroups.Resources.Devices[:0]
	drop := unixRule(dev)
	for _, r := range cfg.Cgroups.Resources.Devices {
		if r.Type == drop.Type && r.Major == drop.Major && r.Minor == drop.Minor && r.Allow {
			continue
		}
		rules = append(rules, r)
	}
	// Without its allow rule the device is denied again: libcontainer
	// turns the changed list into the cgroup's rules.
	cfg.Cgroups.Resources.Devices = rules
	return c.Set(cfg)
}

// removeMountPoint removes the empty file a node was mounted on, and
// nothing else (not a node the container had there before).
func removeMountPoint(path string) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != 0 {
		return err
	}
	return os.Remove(path)
}
