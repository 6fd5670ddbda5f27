// Package device holds the device types instances take (disk, unix-char,
// unix-block, nic, proxy, none), each in a file of its own behind one
// interface, and the registry that maps a device's type key to it. The
// instance service drives them all alike: validate when a config is saved,
// resolve against the host, plug at start or hot, bring the host side up,
// and take it down again.
package device

import (
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/instance/keys"
	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/network"
)

// Config is one device's keys, as the user wrote them.
type Config = map[string]string

// Instance is what device types see of the instance they serve.
type Instance struct {
	Name  string
	IDMap *idmap.Map // nil: privileged
	// Config and Devices are expanded (profiles applied, volatile keys in).
	Config  map[string]string
	Devices map[string]Config
}

// Env is the host side devices reach.
type Env struct {
	Networks *network.Service // nil: no managed networks
	// NetworksProject is the project whose networks an instance of
	// project proj reaches (features.networks); nil: the default one.
	NetworksProject func(proj string) string
	Proxies         *Proxies
	ProxyPorts      AllowedPorts
	// NodesDir is where an instance's device nodes are made.
	NodesDir func(instance string) string
	// VethName names the host end of an instance's NIC.
	VethName func(instance, device string) string
	// CustomVolume is where a custom volume of project proj has its
	// files, mounted.
	CustomVolume func(proj, pool, name string) (string, error)
	Log          *slog.Logger
}

// Type is one device type.
type Type interface {
	// Keys lists the keys the type takes besides "type".
	Keys() []string
	// Validate checks a device's keys by themselves, when a profile or an
	// instance is saved; the host is not looked at.
	Validate(name string, d Config) error
	// Resolve checks the device against the host (sources, bridges,
	// networks) and returns it as the instance gets it: nil when there is
	// nothing to do (a root disk, a missing optional device).
	Resolve(env *Env, inst Instance, name string, d Config) (Device, error)
}

// Device is a resolved device of one instance. Devices compare with ==:
// an equal one needs nothing done when the instance's config changes.
type Device interface {
	// Plug readies the host side of what the runtime plugs (a node to
	// bind in) and returns it; nil when the runtime plugs nothing.
	Plug(env *Env, inst Instance) (runtime.Device, error)
	// Plugged is what the runtime unplugs (nil: nothing).
	Plugged() runtime.Device
	// Up runs once the instance runs with the device plugged (pid is its
	// init): host-side policies and services.
	Up(env *Env, inst Instance, pid int) error
	// Down undoes Up: before the device is unplugged, or once the
	// instance has stopped.
	Down(env *Env, inst Instance)
}

// Updater is a device that takes some changes live, without being
// unplugged: Update applies the change from the device it replaces (of
// the same type) and says whether it could.
type Updater interface {
	Update(env *Env, inst Instance, pid int, from Device) (bool, error)
}

// Restorer is a device whose host side lives in lodged (a userspace
// proxy): Restore brings it back for a running instance after a daemon
// restart.
type Restorer interface {
	Restore(env *Env, inst Instance, pid int) error
}

// Filtered is a device with nftables filters, which a daemon start loads
// for all running instances at once.
type Filtered interface {
	Filter(env *Env, inst Instance) (network.PortFilter, bool)
}

// Validate checks the devices of an instance or profile: names, types, the
// keys each type takes, and values. Whether a source exists on the host is
// checked when the device is used.
func Validate(devices map[string]Config) error {
	for name, d := range devices {
		if name == "" || strings.ContainsAny(name, "/ ") {
			return apierr.BadRequest("device name %q is invalid", name)
		}
		t, ok := types[d["type"]]
		if !ok {
			if d["type"] == "" {
				return apierr.BadRequest("device %q has no type", name)
			}
			return apierr.BadRequest("device %q: unknown type %q (%s)", name, d["type"], strings.Join(typeNames(), ", "))
		}
		allowed := map[string]bool{"type": true}
		for _, k := range t.Keys() {
			allowed[k] = true
		}
		for k, v := range d {
			if !allowed[k] {
				return apierr.BadRequest("device %q: unknown key %q for a %s device", name, k, d["type"])
			}
			if (k == "readonly" || k == "required" || k == "shift" || strings.HasPrefix(k, "security.")) && v != "" {
				if _, err := keys.ParseBool(v); err != nil {
					return apierr.BadRequest("device %q: %s=%q is not a boolean", name, k, v)
				}
			}
		}
		if err := t.Validate(name, d); err != nil {
			return err
		}
	}
	return nil
}

// Resolve resolves every device of an instance, in name order; the first
// that does not resolve is the error.
func Resolve(env *Env, inst Instance) (map[string]Device, error) {
	return resolve(env, inst, false)
}

// ResolveWhatCan resolves every device that still resolves, for taking a
// stopped instance's host side down: one whose source went away must not
// keep another's rules in place.
func ResolveWhatCan(env *Env, inst Instance) map[string]Device {
	out, _ := resolve(env, inst, true)
	return out
}

func resolve(env *Env, inst Instance, skipFailures bool) (map[string]Device, error) {
	out := map[string]Device{}
	for _, name := range Names(inst.Devices) {
		d := inst.Devices[name]
		t, ok := types[d["type"]]
		var dev Device
		var err error
		if ok {
			dev, err = t.Resolve(env, inst, name, d)
		} else {
			err = apierr.BadRequest("device %q: unknown type %q", name, d["type"])
		}
		if err != nil {
			if skipFailures {
				continue
			}
			return nil, err
		}
		if dev != nil {
			out[name] = dev
		}
	}
	return out, nil
}

// Names lists a device map's names in order.
func Names[D any](devices map[string]D) []string { return slices.Sorted(maps.Keys(devices)) }

func typeNames() []string { return Names(types) }
