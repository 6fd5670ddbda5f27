package projects

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/instance/keys"
	"github.com/lodge-project/lodge/internal/limits"
)

// Features are the project keys that give a project its own set of a
// kind of object; without one, it shares the default project's.
var Features = []string{"features.images", "features.profiles", "features.storage.volumes", "features.networks"}

// newProjectFeatures are LXD's defaults for a new project.
var newProjectFeatures = map[string]string{"features.images": "true", "features.profiles": "true", "features.storage.volumes": "true"}

// configKeys checks a project's keys; a key Lodge does not enforce is not
// here, so setting it is refused rather than trusted.
var configKeys = map[string]func(string) error{
	"features.images":                      isBool,
	"features.profiles":                    isBool,
	"features.storage.volumes":             isBool,
	"features.networks":                    isBool,
	"limits.instances":                     isCount,
	"limits.containers":                    isCount,
	"limits.virtual-machines":              isCount,
	"limits.cpu":                           isCount,
	"limits.memory":                        isAbsoluteSize,
	"limits.processes":                     isCount,
	"limits.disk":                          isAbsoluteSize,
	"limits.networks":                      isCount,
	"restricted":                           isBool,
	"restricted.containers.nesting":        oneOf("allow", "block"),
	"restricted.containers.lowlevel":       oneOf("allow", "block"),
	"restricted.containers.privilege":      oneOf("allow", "unprivileged", "isolated"),
	"restricted.containers.interception":   oneOf("allow", "block", "full"),
	"restricted.virtual-machines.lowlevel": oneOf("allow", "block"),
	"restricted.cluster.target":            oneOf("allow", "block"),
	"restricted.devices.unix-char":         oneOf("allow", "block"),
	"restricted.devices.unix-block":        oneOf("allow", "block"),
	"restricted.devices.proxy":             oneOf("allow", "block"),
	"restricted.devices.unix-hotplug":      oneOf("allow", "block"),
	"restricted.devices.gpu":               oneOf("allow", "block"),
	"restricted.devices.usb":               oneOf("allow", "block"),
	"restricted.devices.pci":               oneOf("allow", "block"),
	"restricted.devices.infiniband":        oneOf("allow", "block"),
	"restricted.devices.nic":               oneOf("allow", "block", "managed"),
	"restricted.devices.disk":              oneOf("allow", "block", "managed"),
	"restricted.devices.disk.paths":        isPathList,
	"restricted.idmap.uid":                 isIDRanges,
	"restricted.idmap.gid":                 isIDRanges,
	"restricted.networks.access":           isNameList,
	"restricted.snapshots":                 oneOf("allow", "block"),
	"restricted.backups":                   oneOf("allow", "block"),
}

// CheckConfig checks a project's config, key by key, and LXD's rule that
// a restricted project has its own profiles (else the default project's
// profiles, which its restrictions do not check, would open a way round
// them).
func CheckConfig(config map[string]string) error {
	for k, v := range config {
		if strings.HasPrefix(k, "user.") {
			continue
		}
		check, ok := configKeys[k]
		if !ok {
			if strings.HasPrefix(k, "restricted.") || strings.HasPrefix(k, "limits.") {
				return fmt.Errorf("project key %q is not enforced by Lodge yet, so it is refused rather than trusted", k)
			}
			return fmt.Errorf("unknown project key %q", k)
		}
		if v == "" {
			continue
		}
		if err := check(v); err != nil {
			return fmt.Errorf("project key %q: %v", k, err)
		}
	}
	if keys.IsTrue(config, "restricted") && isFalse(config["features.profiles"]) {
		return fmt.Errorf("a project without its own profiles (features.profiles=false) cannot be restricted")
	}
	return nil
}

// isFalse says whether v is set, to false (unset is not false: a new
// project's features default to true).
func isFalse(v string) bool {
	b, err := keys.ParseBool(v)
	return v != "" && err == nil && !b
}

func isBool(v string) error {
	_, err := keys.ParseBool(v)
	return err
}

func isCount(v string) error {
	if _, err := strconv.ParseUint(v, 10, 32); err != nil {
		return fmt.Errorf("%q is not a whole number", v)
	}
	return nil
}

// isAbsoluteSize: a size, not a percentage (LXD's rule for projects).
func isAbsoluteSize(v string) error {
	if strings.HasSuffix(v, "%") {
		return fmt.Errorf("%q: a project's limit is a size, not a percentage", v)
	}
	_, err := limits.ParseSize(v)
	return err
}

func oneOf(values ...string) func(string) error {
	return func(v string) error {
		for _, x := range values {
			if v == x {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(values, ", "))
	}
}

func isPathList(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); !strings.HasPrefix(p, "/") {
			return fmt.Errorf("%q is not an absolute path", p)
		}
	}
	return nil
}

func isNameList(v string) error {
	for _, n := range strings.Split(v, ",") {
		if strings.TrimSpace(n) == "" {
			return fmt.Errorf("an empty name in %q", v)
		}
	}
	return nil
}

// isIDRanges checks host id ranges: "1000,2000-2999".
func isIDRanges(v string) error {
	_, err := ParseIDRanges(v)
	return err
}

// IDRange is an inclusive range of host ids.
type IDRange struct{ First, Last uint32 }

// ParseIDRanges reads "1000,2000-2999".
func ParseIDRanges(v string) ([]IDRange, error) {
	var out []IDRange
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		first, last, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(first, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%q is not an id or a range of ids", part)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(last, 10, 32); err != nil || b < a {
				return nil, fmt.Errorf("%q is not an id or a range of ids", part)
			}
		}
		out = append(out, IDRange{uint32(a), uint32(b)})
	}
	return out, nil
}

// RawIDMapAllowed says whether each host range of a raw.idmap lies in the
// allowed ranges of uids (or gids).
func RawIDMapAllowed(raw string, uids, gids []IDRange) error {
	entries, err := idmap.ParseRaw(raw)
	if err != nil {
		return err
	}
	within := func(allowed []IDRange, first, size uint32) bool {
		for _, r := range allowed {
			if first >= r.First && uint64(first)+uint64(size)-1 <= uint64(r.Last) {
				return true
			}
		}
		return false
	}
	for _, e := range entries {
		if e.UID && !within(uids, e.Host, e.Count) {
			return fmt.Errorf("host uids %d-%d are not in restricted.idmap.uid", e.Host, e.Host+e.Count-1)
		}
		if e.GID && !within(gids, e.Host, e.Count) {
			return fmt.Errorf("host gids %d-%d are not in restricted.idmap.gid", e.Host, e.Host+e.Count-1)
		}
	}
	return nil
}

// LimitValue reads an instance's or a project's limit as a number: CPUs
// as a count (a set of CPUs cannot be summed, as in LXD), memory as bytes
// (not a percentage), processes as a count.
func LimitValue(key, v string) (int64, error) {
	switch key {
	case "limits.disk":
		return limits.ParseSize(v)
	case "limits.memory":
		if strings.HasSuffix(v, "%") {
			return 0, fmt.Errorf("%q is a percentage: a limited project needs sizes", v)
		}
		return limits.ParseSize(v)
	case "limits.cpu":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a count of CPUs: a limited project needs counts, not sets", v)
		}
		return n, nil
	}
	return strconv.ParseInt(v, 10, 64)
}
