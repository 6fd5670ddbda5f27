package device

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/instance/keys"
	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/limits"
	"github.com/lodge-project/lodge/internal/project"
)

// disk is a host path bind-mounted into the instance, a custom storage
// volume (pool and source: the volume's name) mounted in, or (path /) the
// instance's root disk, which its storage pool provides.
type disk struct{}

func (disk) Keys() []string {
	return []string{"path", "source", "pool", "readonly", "required", "shift", "size", "limits.read", "limits.write", "limits.max"}
}

func (disk) Validate(name string, d Config) error {
	for _, k := range []string{"limits.read", "limits.write", "limits.max"} {
		if v := d[k]; v != "" {
			if _, _, err := limits.ParseIORate(v); err != nil {
				return apierr.BadRequest("device %q: %s: %v", name, k, err)
			}
		}
	}
	if d["path"] == "" {
		return apierr.BadRequest("device %q: a disk needs a path", name)
	}
	if d["path"] == "/" {
		if d["source"] != "" {
			return apierr.BadRequest("device %q: the root disk (path /) comes from a storage pool and takes no source; remove source=%s", name, d["source"])
		}
		if v := d["size"]; v != "" {
			if _, err := limits.ParseSize(v); err != nil {
				return apierr.BadRequest("device %q: size: %v", name, err)
			}
		}
		return nil
	}
	if d["size"] != "" {
		return apierr.BadRequest("device %q: size applies to the root disk (path /); a custom volume's size is the volume's own config", name)
	}
	if !strings.HasPrefix(d["path"], "/") {
		return apierr.BadRequest("device %q: path %q must be absolute", name, d["path"])
	}
	if d["source"] == "" {
		return apierr.BadRequest("device %q: a disk needs a source (a host path, or with pool, a custom volume's name)", name)
	}
	if d["pool"] != "" {
		if strings.ContainsAny(d["source"], "/\x00") || d["source"] == "." || d["source"] == ".." {
			return apierr.BadRequest("device %q: source %q must name a custom volume of pool %q", name, d["source"], d["pool"])
		}
		if d["shift"] != "" {
			return apierr.BadRequest("device %q: a custom volume is always shifted to the instance's ids; drop shift", name)
		}
		return nil
	}
	if !strings.HasPrefix(d["source"], "/") {
		return apierr.BadRequest("device %q: source %q must be an absolute host path", name, d["source"])
	}
	return nil
}

func (disk) Resolve(env *Env, inst Instance, name string, d Config) (Device, error) {
	if d["path"] == "/" {
		return nil, nil // the root disk is the instance's volume
	}
	if d["pool"] != "" {
		// A custom volume's files are host root's, as made: the mount
		// shifts them to the instance's ids, so any instance that
		// attaches it reads and writes the same files as its own root.
		proj, _ := project.SplitKey(inst.Name) // an instance attaches its own project's volumes
		src, err := env.CustomVolume(proj, d["pool"], d["source"])
		if err != nil {
			return nil, apierr.BadRequest("device %q: %v", name, err)
		}
		return diskDevice{runtime.Disk{Source: src, Path: filepath.Clean(d["path"]), ReadOnly: keys.IsTrue(d, "readonly"), Shift: inst.IDMap != nil}}, nil
	}
	if _, err := os.Stat(d["source"]); err != nil {
		if d["required"] != "" && !keys.IsTrue(d, "required") {
			return nil, nil
		}
		return nil, apierr.BadRequest("device %q: source %q does not exist on the host", name, d["source"])
	}
	return diskDevice{runtime.Disk{Source: d["source"], Path: filepath.Clean(d["path"]), ReadOnly: keys.IsTrue(d, "readonly"), Shift: keys.IsTrue(d, "shift")}}, nil
}

// diskDevice is a resolved disk: the runtime mounts it, nothing else.
type diskDevice struct{ disk runtime.Disk }

func (d diskDevice) Plug(*Env, Instance) (runtime.Device, error) { return d.disk, nil }
func (d diskDevice) Plugged() runtime.Device                     { return d.disk }
func (diskDevice) Up(*Env, Instance, int) error                  { return nil }
func (diskDevice) Down(*Env, Instance)                           {}
