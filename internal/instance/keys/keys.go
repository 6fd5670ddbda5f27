// Package keys is the one table of instance config keys and the checks of
// config that instances and profiles share (devices: package device).
package keys

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/cron"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/limits"
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
	"security.devlxd":            {Type: typeBool, Default: "true", Doc: "serve the guest API (/dev/lxd/sock: the instance's user.* and cloud-init.* config, devices, meta-data, events) inside the instance; at the next start"},
	"security.devlxd.images":     {Type: typeBool, Default: "false", Doc: "let the guest API export the host's public and cached images (/1.0/images/FINGERPRINT/export), as a nested Lodge or LXD asks for them"},
	"boot.autostart":             {Type: typeBool, Live: true, Doc: "start the instance when lodged starts (unset: start it if it was running when the host went down)"},
	"boot.host_shutdown_timeout": {Type: typeInt, Live: true, Default: "30", Doc: "seconds to wait for a clean stop before killing the instance"},
	"boot.autostart.priority":    {Type: typeInt, Live: true, Default: "0", Doc: "instances with a higher priority start first"},
	"boot.autostart.delay":       {Type: typeInt, Live: true, Default: "0", Doc: "seconds to wait after starting this instance before the next"},
	"security.protection.delete": {Type: typeBool, Live: true, Default: "false", Doc: "refuse to delete the instance"},
	"snapshots.schedule":         {Live: true, Check: checkCron, Doc: "take snapshots on a cron schedule (\"0 6 * * *\", @hourly, @daily), at each start (@startup) or not (@never); several separated by \", \""},
	"snapshots.schedule.stopped": {Type: typeBool, Live: true, Default: "false", Doc: "take scheduled snapshots of stopped instances too"},
	"snapshots.expiry":           {Live: true, Check: checkExpiry, Doc: "delete snapshots after this long (1M 2H 3d 4w 5m 6y)"},
	"snapshots.pattern":          {Live: true, Default: "snap%d", Doc: "name of new snapshots: %d is a counter, {{ creation_date|date:\"2006-01-02\" }} the date"},
	"cloud-init.user-data":       {Check: checkCloudConfig, Doc: "cloud-init user-data: #cloud-config YAML, or any other format cloud-init reads (a #! script, ...)"},
	"cloud-init.vendor-data":     {Check: checkCloudConfig, Doc: "cloud-init vendor-data, in user-data's formats"},
	"cloud-init.network-config":  {Check: checkYAML, Doc: "cloud-init network configuration (YAML, version 1 or 2); DHCP on eth0 when unset"},
	// Lodge's own (lodge_backup_schedule): backups on a schedule, as
	// hosting panels built on LXD offer.
	"backups.schedule": {Live: true, Check: checkBackupCron, Doc: "back the instance up on a cron schedule (\"0 3 * * *\", @daily); several separated by \", \""},
	"backups.expiry":   {Live: true, Check: checkExpiry, Doc: "delete scheduled backups after this long (1M 2H 3d 4w 5m 6y)"},
	"backups.path":     {Live: true, Check: checkBackupPath, Doc: "a host directory the scheduled backups are written to, as <instance>-<UTC time>.tar.gz files (without it they are the instance's backups, as lxc export makes)"},
}

func checkRawIDMap(v string) error {
	_, err := idmap.ParseRaw(v)
	return err
}

func checkCron(v string) error {
	_, err := cron.ParseTriggers(v)
	return err
}

func checkBackupCron(v string) error {
	t, err := cron.ParseTriggers(v)
	if err == nil && t.OnStartup {
		err = fmt.Errorf("@startup is for snapshots; give backups a cron schedule")
	}
	return err
}

func checkBackupPath(v string) error {
	if !filepath.IsAbs(v) || filepath.Clean(v) != v || v == "/" {
		return fmt.Errorf("%q is not a clean absolute path of a directory", v)
	}
	return nil
}

func checkExpiry(v string) error {
	_, err := cron.ParseExpiry(v)
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
	if check, ok := cloudInitUserKeys[k]; ok && v != "" {
		if err := check(v); err != nil {
			return apierr.BadRequest("config key %q: %v", k, err)
		}
		return nil
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
		if _, err := ParseBool(v); err != nil {
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

// ParseBool reads a boolean as LXD spells them (true, 1, yes, on; false, 0, no, off, "").
func ParseBool(v string) (bool, error) {
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
	b, _ := ParseBool(config[key])
	return b
}

// Bool is a boolean key's value, its default in Table when unset.
func Bool(config map[string]string, key string) bool {
	v := config[key]
	if v == "" {
		v = Table[key].Default
	}
	b, _ := ParseBool(v)
	return b
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
