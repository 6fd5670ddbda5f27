package device

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/instance/keys"
	"github.com/lodge-project/lodge/internal/instance/runtime"
)

// unixDev is a unix-char or unix-block device: a node the instance gets
// at path. A user namespace cannot mknod, so the node is made on the host
// (under Env.NodesDir, owned by the instance's ids) and bound in, as LXD
// does.
type unixDev struct{ block bool }

func (unixDev) Keys() []string {
	return []string{"source", "path", "required", "major", "minor", "uid", "gid", "mode"}
}

func (u unixDev) Validate(name string, d Config) error {
	if d["source"] == "" && d["path"] == "" {
		return apierr.BadRequest("device %q: a %s device needs a source or a path", name, d["type"])
	}
	if p := d["path"]; p != "" && !strings.HasPrefix(p, "/") {
		return apierr.BadRequest("device %q: path %q must be absolute", name, p)
	}
	return nil
}

// Resolve reads the device as LXD does: major and minor from the keys, or
// else from the host node (source, or path); the node the instance gets is
// owned by uid/gid inside (0 by default) with mode (0660 by default). A
// missing host node skips the device when required=false.
func (u unixDev) Resolve(env *Env, inst Instance, name string, d Config) (Device, error) {
	kind := map[bool]string{true: "block", false: "character"}[u.block]
	src := d["source"]
	if src == "" {
		src = d["path"]
	}
	path := d["path"]
	if path == "" {
		path = src
	}
	dev := runtime.UnixDev{Path: filepath.Clean(path), Block: u.block, Mode: 0o660}
	if v := d["mode"]; v != "" {
		mode, err := strconv.ParseUint(v, 8, 32)
		if err != nil || mode > 0o777 {
			return nil, apierr.BadRequest("device %q: mode %q: want octal permission bits such as 0660", name, v)
		}
		dev.Mode = uint32(mode)
	}
	for key, into := range map[string]*uint32{"uid": &dev.UID, "gid": &dev.GID} {
		if v := d[key]; v != "" {
			id, err := strconv.ParseUint(v, 10, 32)
			if err != nil || id >= idmap.Size {
				return nil, apierr.BadRequest("device %q: %s %q: want an id of the instance (0 to %d)", name, key, v, idmap.Size-1)
			}
			*into = uint32(id)
		}
	}
	major, minor := d["major"], d["minor"]
	if (major == "") != (minor == "") {
		return nil, apierr.BadRequest("device %q: give both major and minor, or neither (they are read from the host node)", name)
	}
	if major != "" {
		ma, err1 := strconv.ParseUint(major, 10, 32)
		mi, err2 := strconv.ParseUint(minor, 10, 32)
		if err1 != nil || err2 != nil {
			return nil, apierr.BadRequest("device %q: major %q and minor %q must be numbers", name, major, minor)
		}
		dev.Major, dev.Minor = int64(ma), int64(mi)
		return unixDevice{name, dev}, nil
	}
	var st unix.Stat_t
	if err := unix.Stat(src, &st); err != nil {
		if d["required"] != "" && !keys.IsTrue(d, "required") {
			return nil, nil
		}
		return nil, apierr.BadRequest("device %q: source %q does not exist on the host (or give major and minor)", name, src)
	}
	want := uint32(unix.S_IFCHR)
	if u.block {
		want = unix.S_IFBLK
	}
	if st.Mode&unix.S_IFMT != want {
		return nil, apierr.BadRequest("device %q: %q is not a %s device", name, src, kind)
	}
	dev.Major, dev.Minor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	return unixDevice{name, dev}, nil
}

// unixDevice is a resolved unix device of one instance.
type unixDevice struct {
	name string
	dev  runtime.UnixDev
}

// Plug makes the instance's own node of the device.
func (u unixDevice) Plug(env *Env, inst Instance) (runtime.Device, error) {
	dev, err := makeNode(u.dev, filepath.Join(env.NodesDir(inst.Name), "unix."+u.name), inst.IDMap)
	if err != nil {
		return nil, fmt.Errorf("device %q: %w", u.name, err)
	}
	return dev, nil
}

// Plugged is the device as the runtime unplugs it: its path and numbers.
func (u unixDevice) Plugged() runtime.Device { return u.dev }

func (unixDevice) Up(*Env, Instance, int) error { return nil }
func (unixDevice) Down(*Env, Instance)          {}

// makeNode makes dev's node at path, owned by its ids shifted onto m
// (host root's for a nil map) with its mode, and returns dev with that
// node as its source. A node there already is replaced.
func makeNode(dev runtime.UnixDev, path string, m *idmap.Map) (runtime.UnixDev, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return dev, err
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return dev, err
	}
	typ := uint32(unix.S_IFCHR)
	if dev.Block {
		typ = unix.S_IFBLK
	}
	if err := unix.Mknod(path, typ|0o600, int(unix.Mkdev(uint32(dev.Major), uint32(dev.Minor)))); err != nil {
		return dev, fmt.Errorf("make node %d:%d for %s: %w", dev.Major, dev.Minor, dev.Path, err)
	}
	if err := unix.Lchown(path, int(m.ShiftUID(dev.UID)), int(m.ShiftGID(dev.GID))); err != nil {
		os.Remove(path)
		return dev, err
	}
	if err := unix.Chmod(path, dev.Mode&0o777); err != nil {
		os.Remove(path)
		return dev, err
	}
	dev.Source = path
	return dev, nil
}
