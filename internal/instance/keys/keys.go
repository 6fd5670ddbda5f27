// Package keys is the one table of instance config keys and the checks of
// config and devices that instances and profiles share.
package keys

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/cron"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/limits"
	"github.com/lodge-project/lodge/internal/network"
	"github.com/lodge-project/lodge/internal/proxy"
)

// keyType says how a config value is checked.
type keyType int

const (
	typeString keyType = iota
	typeBool
	typeInt
)

// Key is one row of the config table.
type Key struct {
	Type keyType
	// Live keys reach a running instance at once; the rest need a restart
	// (or, for NeedsStop keys, the instance stopped).
	Live      bool
	NeedsStop bool
	Check     func(v string) error
	// Default is what an unset key means ("" where unset is "no limit").
	Default string
	Doc     string
}

// Keys is the one table of instance config keys.
var Table = map[string]Key{
	"limits.cpu":                 {Live: true, Check: limitsKey("limits.cpu"), Doc: "CPUs to use: a count (2) or a set (0,2-3)"},
	"limits.cpu.allowance":       {Live: true, Check: limitsKey("limits.cpu.allowance"), Default: "100%", Doc: "CPU share under contention (50%) or a hard quota (25ms/100ms)"},
	"limits.memory":              {Live: true, Check: limitsKey("limits.memory"), Doc: "memory limit: a size (256MiB) or a percentage of the host's (50%)"},
	"limits.processes":           {Live: true, Type: typeInt, Check: limitsKey("limits.processes"), Doc: "most processes the instance may run"},
	"limits.cpu.priority":        {Live: true, Type: typeInt, Check: limitsKey("limits.cpu.priority"), Default: "10", Doc: "CPU share when CPUs are contended, 0 to 10 (ignored with a percentage allowance)"},
	"limits.memory.enforce":      {Live: true, Check: limitsKey("limits.memory.enforce"), Default: "hard", Doc: "hard: limits.memory is a limit; soft: a reservation under pressure"},
	"limits.memory.swap":         {Live: true, Type: typeBool, Default: "true", Doc: "whether the instance may swap"},
	"limits.disk.priority":       {Live: true, Type: typeInt, Check: limitsKey("limits.disk.priority"), Doc: "I/O weight, 0 to 10 (needs an I/O scheduler with weights)"},
	"security.idmap.isolated":    {Type: typeBool, NeedsStop: true, Default: "false", Doc: "give the instance a host id range of its own"},
	"raw.idmap":                  {NeedsStop: true, Check: checkRawIDMap, Doc: "host ids mapped straight into the instance: lines of \"both|uid|gid HOST[-HOST] CONTAINER[-CONTAINER]\""},
	"security.privileged":        {Type: typeBool, NeedsStop: true, Default: "false", Doc: "run without a user namespace (container root is host root)"},
	"security.nesting":           {Type: typeBool, Default: "false", Doc: "let the instance run containers of its own"},
	"boot.autostart":             {Type: typeBool, Live: true, Doc: "start the instance when lodged starts (unset: start it if it was running when the host went down)"},
	"boot.host_shutdown_timeout": {Type: typeInt, Live: true, Default: "30", Doc: "seconds to wait for a clean stop before killing the instance"},
	"boot.autostart.priority":    {Type: typeInt, Live: true, Default: "0", Doc: "instances with a higher priority start first"},
	"boot.autostart.delay":       {Type: typeInt, Live: true, Default: "0", Doc: "seconds to wait after starting this instance before the next"},
	"security.protection.delete": {Type: typeBool, Live: true, Default: "false", Doc: "refuse to delete the instance"},
	"snapshots.schedule":         {Live: true, Check: checkCron, Doc: "take snapshots on a cron schedule (\"0 6 * * *\", @hourly, @daily), at each start (@startup) or not (@never); several separated by \", \""},
	"snapshots.schedule.stopped": {Type: typeBool, Live: true, Default: "false", Doc: "take scheduled snapshots of stopped instances too"},
	"snapshots.expiry":           {Live: true, Check: checkExpiry, Doc: "delete snapshots after this long (1M 2H 3d 4w 5m 6y)"},
	"snapshots.pattern":          {Live: true, Default: "snap%d", Doc: "name of new snapshots: %d is a counter, {{ creation_date|date:\"2006-01-02\" }} the date"},
}

func checkRawIDMap(v string) error {
	_, err := idmap.ParseRaw(v)
	return err
}

func checkCron(v string) error {
	_, err := cron.ParseTriggers(v)
	return err
}

func checkExpiry(v string) error {
	_, err := ParseExpiry(v)
	return err
}

// Prefixes of free-form keys.
var freeForm = []string{"user.", "environment.", "image."}

func limitsKey(key string) func(string) error {
	return func(v string) error {
		_, err := limits.FromConfig(map[string]string{key: v}, limits.Host{CPUs: 1 << 16, MemoryBytes: 1 << 62, SwapAccounting: true, IOWeight: true})
		return err
	}
}

// ValidateConfig checks every key and value of an instance's (or a
// profile's) own config. volatile.* keys are the daemon's and are refused
// unless allowVolatile is set (the daemon's own writes).
func ValidateConfig(config map[string]string, allowVolatile bool) error {
	keys := make([]string, 0, len(config))
	for k := range config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := validateKey(k, config[k], allowVolatile); err != nil {
			return err
		}
	}
	return nil
}

func validateKey(k, v string, allowVolatile bool) error {
	if strings.HasPrefix(k, "volatile.") {
		if allowVolatile {
			return nil
		}
		return apierr.BadRequest("config key %q is read-only: volatile.* keys belong to the daemon", k)
	}
	if sysctl, ok := strings.CutPrefix(k, "linux.sysctl."); ok {
		return checkSysctl(k, sysctl)
	}
	for _, p := range freeForm {
		if strings.HasPrefix(k, p) && len(k) > len(p) {
			return nil
		}
	}
	key, ok := Table[k]
	if !ok {
		return apierr.BadRequest("unknown config key %q (see `lodge config keys` for the list)", k)
	}
	if v == "" {
		return nil // empty means unset
	}
	switch key.Type {
	case typeBool:
		if _, err := parseBool(v); err != nil {
			return apierr.BadRequest("config key %q: %q is not a boolean (use true or false)", k, v)
		}
	case typeInt:
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return apierr.BadRequest("config key %q: %q is not an integer", k, v)
		}
	}
	if key.Check != nil {
		if err := key.Check(v); err != nil {
			return apierr.BadRequest("config key %q: %v", k, err)
		}
	}
	return nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "1", "yes", "on":
		return true, nil
	case "false", "0", "no", "off", "":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean: %q", v)
}

// IsTrue reads a boolean key of an expanded config.
func IsTrue(config map[string]string, key string) bool {
	b, _ := parseBool(config[key])
	return b
}

// ValidateDevices checks devices of an instance or profile: types, the
// keys each type needs, and values. Whether a source exists on the host is
// checked when the device is used.
func ValidateDevices(devices map[string]map[string]string) error {
	for name, d := range devices {
		if name == "" || strings.ContainsAny(name, "/ ") {
			return apierr.BadRequest("device name %q is invalid", name)
		}
		allowed, ok := deviceKeys[d["type"]]
		if !ok {
			if d["type"] == "" {
				return apierr.BadRequest("device %q has no type", name)
			}
			return apierr.BadRequest("device %q: unknown type %q (disk, unix-char, unix-block, nic, proxy or none)", name, d["type"])
		}
		for k, v := range d {
			if !allowed[k] {
				return apierr.BadRequest("device %q: unknown key %q for a %s device", name, k, d["type"])
			}
			if (k == "readonly" || k == "required" || k == "shift" || strings.HasPrefix(k, "security.")) && v != "" {
				if _, err := parseBool(v); err != nil {
					return apierr.BadRequest("device %q: %s=%q is not a boolean", name, k, v)
				}
			}
		}
		for _, k := range []string{"limits.read", "limits.write", "limits.max"} {
			if v := d[k]; v != "" && d["type"] == "disk" {
				if _, _, err := limits.ParseIORate(v); err != nil {
					return apierr.BadRequest("device %q: %s: %v", name, k, err)
				}
			}
		}
		if d["type"] == "nic" {
			if err := validateNICLimits(name, d); err != nil {
				return err
			}
		}
		if d["type"] == "proxy" {
			if err := validateProxy(name, d); err != nil {
				return err
			}
		}
		switch d["type"] {
		case "disk":
			if d["path"] == "" {
				return apierr.BadRequest("device %q: a disk needs a path", name)
			}
			if d["path"] == "/" {
				if p := d["pool"]; p != "" && p != "default" {
					return apierr.BadRequest("device %q: storage pool %q does not exist", name, p)
				}
				if d["source"] != "" {
					return apierr.BadRequest("device %q: the root disk (path /) comes from a storage pool and takes no source; remove source=%s", name, d["source"])
				}
				continue
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
		case "unix-char", "unix-block":
			if d["source"] == "" && d["path"] == "" {
				return apierr.BadRequest("device %q: a %s device needs a source or a path", name, d["type"])
			}
			if p := d["path"]; p != "" && !strings.HasPrefix(p, "/") {
				return apierr.BadRequest("device %q: path %q must be absolute", name, p)
			}
		case "nic":
			switch d["nictype"] {
			case "bridged", "":
				if (d["parent"] == "") == (d["network"] == "") {
					return apierr.BadRequest("device %q: a bridged nic needs either a parent (a host bridge) or a network (a managed one)", name)
				}
			case "p2p", "macvlan":
				if d["network"] != "" {
					return apierr.BadRequest("device %q: a %s nic takes no network (managed networks are bridges: use nictype=bridged)", name, d["nictype"])
				}
				if d["nictype"] == "macvlan" && d["parent"] == "" {
					return apierr.BadRequest("device %q: a macvlan nic needs a parent (a host interface)", name)
				}
				if d["nictype"] == "p2p" && d["parent"] != "" {
					return apierr.BadRequest("device %q: a p2p nic takes no parent (its host end stands alone)", name)
				}
				for k, v := range d {
					hostSide := strings.HasPrefix(k, "limits.") && d["nictype"] == "macvlan"
					if v != "" && (strings.HasPrefix(k, "security.") || k == "ipv4.address" || k == "ipv6.address" || hostSide) {
						return apierr.BadRequest("device %q: a %s nic does not take %s (it is not on a managed bridge)", name, d["nictype"], k)
					}
				}
			default:
				return apierr.BadRequest("device %q: nictype %q is not supported (bridged, p2p or macvlan)", name, d["nictype"])
			}
			if n := d["name"]; len(n) > 15 {
				return apierr.BadRequest("device %q: interface name %q is longer than 15 characters", name, n)
			}
		}
	}
	return nil
}

func keySet(keys ...string) map[string]bool {
	m := map[string]bool{"type": true}
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// deviceKeys lists the keys each device type takes.
var deviceKeys = map[string]map[string]bool{
	"disk":       keySet("path", "source", "pool", "readonly", "required", "shift", "limits.read", "limits.write", "limits.max"),
	"unix-char":  keySet("source", "path", "required", "major", "minor", "uid", "gid", "mode"),
	"unix-block": keySet("source", "path", "required", "major", "minor", "uid", "gid", "mode"),
	"nic": keySet("nictype", "parent", "network", "name", "hwaddr", "mtu", "ipv4.address", "ipv6.address",
		"security.mac_filtering", "security.ipv4_filtering", "security.ipv6_filtering",
		"limits.ingress", "limits.egress", "limits.max", "limits.priority", "limits.connections"),
	"proxy": keySet("listen", "connect", "bind", "nat"),
	"none":  keySet(),
}

// ParseExpiry reads snapshots.expiry: "1M 2H 3d 4w 5m 6y" (minutes, hours,
// days, weeks, months, years), as LXD spells it.
func ParseExpiry(v string) (time.Duration, error) {
	var total time.Duration
	fields := strings.Fields(v)
	if len(fields) == 0 {
		return 0, fmt.Errorf("%q is empty", v)
	}
	for _, f := range fields {
		if len(f) < 2 {
			return 0, fmt.Errorf("%q: use numbers with M, H, d, w, m or y (1M = a minute, 2w = two weeks)", v)
		}
		n, err := strconv.Atoi(f[:len(f)-1])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q: use numbers with M, H, d, w, m or y (1M = a minute, 2w = two weeks)", v)
		}
		unit := map[byte]time.Duration{'M': time.Minute, 'H': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour,
			'm': 30 * 24 * time.Hour, 'y': 365 * 24 * time.Hour}[f[len(f)-1]]
		if unit == 0 {
			return 0, fmt.Errorf("%q: unknown unit %q (use M, H, d, w, m or y)", v, f[len(f)-1:])
		}
		total += time.Duration(n) * unit
	}
	return total, nil
}

var sysctlName = regexp.MustCompile(`^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$`)

// checkSysctl allows the sysctls a container's own namespaces hold, which
// are the ones it may set without touching the host.
func checkSysctl(key, name string) error {
	if !sysctlName.MatchString(name) {
		return apierr.BadRequest("config key %q: %q is not a sysctl name", key, name)
	}
	for _, p := range []string{"net.", "kernel.shm", "kernel.msg", "fs.mqueue."} {
		if strings.HasPrefix(name, p) {
			return nil
		}
	}
	if name == "kernel.sem" {
		return nil
	}
	return apierr.BadRequest("config key %q: %s is not namespaced; only net.*, kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.* can be set per container", key, name)
}

func validateNICLimits(name string, d map[string]string) error {
	for _, k := range []string{"limits.ingress", "limits.egress", "limits.max"} {
		if v := d[k]; v != "" {
			if _, err := network.ParseBitRate(v); err != nil {
				return apierr.BadRequest("device %q: %s: %v", name, k, err)
			}
		}
	}
	if v := d["limits.connections"]; v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 {
			return apierr.BadRequest("device %q: limits.connections %q: want a positive number", name, v)
		}
	}
	if t, _ := parseBool(d["security.ipv4_filtering"]); t && d["ipv4.address"] == "" {
		return apierr.BadRequest("device %q: security.ipv4_filtering needs the NIC's ipv4.address pinned", name)
	}
	if v := d["limits.priority"]; v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 0 || n > 65535 {
			return apierr.BadRequest("device %q: limits.priority %q: want 0 to 65535", name, v)
		}
	}
	return nil
}

func validateProxy(name string, d map[string]string) error {
	l, err := proxy.ParseEndpoint(d["listen"])
	if err != nil {
		return apierr.BadRequest("device %q: listen: %v", name, err)
	}
	c, err := proxy.ParseEndpoint(d["connect"])
	if err != nil {
		return apierr.BadRequest("device %q: connect: %v", name, err)
	}
	if l.Proto != c.Proto {
		return apierr.BadRequest("device %q: listen and connect must use the same protocol", name)
	}
	switch d["bind"] {
	case "", "host", "instance":
	default:
		return apierr.BadRequest("device %q: bind %q: use host or instance", name, d["bind"])
	}
	if t, _ := parseBool(d["nat"]); t && d["bind"] == "instance" {
		return apierr.BadRequest("device %q: nat=true works with bind=host only", name)
	}
	return nil
}
