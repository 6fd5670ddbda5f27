package device

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/instance/keys"
	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/limits"
)

// disk is a host path bind-mounted into the instance, or (path /) the
// instance's root disk, which its storage pool provides.
type disk struct{}

func (disk) Keys() []string {
	return []string{"path", "source", "pool", "readonly", "required", "shift", "limits.read", "limits.write", "limits.max"}
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
		return nil
	}
	if !strings.HasPrefix(d["path"], "/") {
		return apierr.BadRequest("device %q: path %q must be absolute", name, d["path"])
	}
	if d["source"] == "" {
		return apierr.BadRequest("device %q: a disk needs a source (a host path)", name)
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
