package instance

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/instance/keys"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/projects"
)

// checkProject checks an instance, expanded as it is to be, against its
// project's restrictions and limits: at create (replacing ""), at an
// update and at start (replacing its own key). A refusal is a 400 that
// names the project and the key.
func (s *Service) checkProject(e Expanded, replacing string) error {
	proj := project.Name(e.Project)
	cfg := s.projectConfig(proj)
	limited := false
	for k, v := range cfg {
		limited = limited || (strings.HasPrefix(k, "limits.") && v != "")
	}
	if !limited && !keys.IsTrue(cfg, "restricted") {
		return nil // most projects, the default one: no list of instances read
	}
	if keys.IsTrue(cfg, "restricted") {
		if err := checkRestrictions(e, cfg); err != nil {
			return apierr.BadRequest("project %q is restricted: %v", proj, err)
		}
	}
	if !limited {
		return nil
	}
	all, err := s.expandedAll()
	if err != nil {
		return err
	}
	var in []Expanded
	for _, o := range all {
		if project.Name(o.Project) == proj && o.key() != replacing && o.key() != e.key() {
			in = append(in, o)
		}
	}
	return s.fitLimits(proj, cfg, append(in, e))
}

// FitLimits says whether project proj's instances fit limits (a project
// config about to be set): each instance must set every limited key, and
// their sum must stay under the project's.
func (s *Service) FitLimits(proj string, cfg map[string]string) error {
	in, err := s.expandedIn(proj)
	if err != nil {
		return err
	}
	return s.fitLimits(proj, cfg, in)
}

// expandedIn lists project proj's instances, expanded.
func (s *Service) expandedIn(proj string) ([]Expanded, error) {
	all, err := s.expandedAll()
	if err != nil {
		return nil, err
	}
	var in []Expanded
	for _, e := range all {
		if project.Name(e.Project) == project.Name(proj) {
			in = append(in, e)
		}
	}
	return in, nil
}

// fitLimits checks the instances of a project (and, for limits.disk, its
// custom volumes) against its limits.*.
func (s *Service) fitLimits(proj string, cfg map[string]string, instances []Expanded) error {
	if limit := cfg["limits.disk"]; limit != "" {
		vols, err := s.projectVolumes(proj, "", "")
		if err != nil {
			return err
		}
		if err := fitDisk(proj, limit, instances, vols); err != nil {
			return err
		}
	}
	count := func(key string, want func(Expanded) bool) error {
		v := cfg[key]
		if v == "" {
			return nil
		}
		max, _ := strconv.ParseUint(v, 10, 32)
		n := uint64(0)
		for _, e := range instances {
			if want(e) {
				n++
			}
		}
		if n > max {
			return apierr.BadRequest("project %q: %s is %d, and this would make %d", proj, key, max, n)
		}
		return nil
	}
	if err := count("limits.instances", func(Expanded) bool { return true }); err != nil {
		return err
	}
	if err := count("limits.containers", func(e Expanded) bool { return e.Type == "" || e.Type == typeContainer }); err != nil {
		return err
	}
	if err := count("limits.virtual-machines", func(e Expanded) bool { return e.Type == typeVM }); err != nil {
		return err
	}
	for _, key := range []string{"limits.cpu", "limits.memory", "limits.processes"} {
		v := cfg[key]
		if v == "" {
			continue
		}
		max, err := projects.LimitValue(key, v)
		if err != nil {
			return apierr.BadRequest("project %q: %s: %v", proj, key, err)
		}
		var sum int64
		var names []string
		for _, e := range instances {
			iv := e.Config[key]
			if iv == "" {
				return apierr.BadRequest("project %q limits %s: instance %q must set %s too (directly or through a profile)", proj, key, e.Name, key)
			}
			n, err := projects.LimitValue(key, iv)
			if err != nil {
				return apierr.BadRequest("project %q limits %s: instance %q: %v", proj, key, e.Name, err)
			}
			sum += n
			names = append(names, e.Name)
		}
		if sum > max {
			sort.Strings(names)
			return apierr.BadRequest("project %q: %s is %s, and its instances (%s) would have %s together", proj, key, v, strings.Join(names, ", "), formatLimit(key, sum))
		}
	}
	return nil
}

func formatLimit(key string, n int64) string {
	if key == "limits.memory" {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return strconv.FormatInt(n, 10)
}

// restriction is a restricted.* key's value, or its default.
func restriction(cfg map[string]string, key, def string) string {
	if v := cfg[key]; v != "" {
		return v
	}
	return def
}

// checkRestrictions checks an instance against a restricted project's
// restricted.* keys (LXD's defaults where unset).
func checkRestrictions(e Expanded, cfg map[string]string) error {
	if keys.IsTrue(e.Config, "security.nesting") && restriction(cfg, "restricted.containers.nesting", "block") == "block" {
		return fmt.Errorf("security.nesting is blocked (restricted.containers.nesting)")
	}
	switch restriction(cfg, "restricted.containers.privilege", "unprivileged") {
	case "unprivileged":
		if keys.IsTrue(e.Config, "security.privileged") {
			return fmt.Errorf("privileged containers are blocked (restricted.containers.privilege)")
		}
	case "isolated":
		if keys.IsTrue(e.Config, "security.privileged") || !keys.IsTrue(e.Config, "security.idmap.isolated") {
			return fmt.Errorf("containers must be unprivileged with security.idmap.isolated=true (restricted.containers.privilege=isolated)")
		}
	}
	lowlevel := "restricted.containers.lowlevel"
	if e.Type == typeVM {
		lowlevel = "restricted.virtual-machines.lowlevel"
	}
	for k, v := range e.Config {
		if strings.HasPrefix(k, "security.syscalls.intercept.") && keys.IsTrue(e.Config, k) &&
			restriction(cfg, "restricted.containers.interception", "block") == "block" {
			return fmt.Errorf("%s is blocked (restricted.containers.interception)", k)
		}
		if !strings.HasPrefix(k, "raw.") || v == "" {
			continue
		}
		if restriction(cfg, lowlevel, "block") == "block" {
			return fmt.Errorf("%s is blocked (%s)", k, lowlevel)
		}
		if k == "raw.idmap" {
			uids, _ := projects.ParseIDRanges(cfg["restricted.idmap.uid"])
			gids, _ := projects.ParseIDRanges(cfg["restricted.idmap.gid"])
			if cfg["restricted.idmap.uid"] == "" {
				uids = nil
			}
			if cfg["restricted.idmap.gid"] == "" {
				gids = nil
			}
			if err := projects.RawIDMapAllowed(v, uids, gids); err != nil {
				return fmt.Errorf("raw.idmap: %v", err)
			}
		}
	}
	names := make([]string, 0, len(e.Devices))
	for n := range e.Devices {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := checkDevice(n, e.Devices[n], cfg); err != nil {
			return err
		}
	}
	return nil
}

// checkDevice checks one device against restricted.devices.* and
// restricted.networks.access.
func checkDevice(name string, d, cfg map[string]string) error {
	switch typ := d["type"]; typ {
	case "unix-char", "unix-block", "unix-hotplug", "proxy", "gpu", "usb", "pci", "infiniband":
		if restriction(cfg, "restricted.devices."+typ, "block") == "block" {
			return fmt.Errorf("device %q: %s devices are blocked (restricted.devices.%s)", name, typ, typ)
		}
	case "nic":
		switch restriction(cfg, "restricted.devices.nic", "managed") {
		case "block":
			return fmt.Errorf("device %q: nic devices are blocked (restricted.devices.nic)", name)
		case "managed":
			if d["network"] == "" {
				return fmt.Errorf("device %q: only NICs on a managed network (network=) are allowed (restricted.devices.nic=managed)", name)
			}
		}
		if access := cfg["restricted.networks.access"]; access != "" && d["network"] != "" {
			allowed := false
			for _, n := range strings.Split(access, ",") {
				allowed = allowed || strings.TrimSpace(n) == d["network"]
			}
			if !allowed {
				return fmt.Errorf("device %q: network %q is not in restricted.networks.access", name, d["network"])
			}
		}
	case "disk":
		if d["path"] == "/" {
			return nil
		}
		switch restriction(cfg, "restricted.devices.disk", "managed") {
		case "block":
			return fmt.Errorf("device %q: disks other than the root disk are blocked (restricted.devices.disk)", name)
		case "managed":
			if d["pool"] == "" {
				return fmt.Errorf("device %q: only disks on a storage pool (pool=) are allowed (restricted.devices.disk=managed)", name)
			}
		case "allow":
			if paths := cfg["restricted.devices.disk.paths"]; paths != "" && d["pool"] == "" {
				ok := false
				for _, p := range strings.Split(paths, ",") {
					p = strings.TrimRight(strings.TrimSpace(p), "/")
					ok = ok || d["source"] == p || strings.HasPrefix(d["source"], p+"/")
				}
				if !ok {
					return fmt.Errorf("device %q: source %q is not under restricted.devices.disk.paths", name, d["source"])
				}
			}
		}
	}
	return nil
}

// checkSnapshotsAllowed refuses snapshots in a project that blocks them.
func (s *Service) checkSnapshotsAllowed(key string) error {
	proj, _ := project.SplitKey(key)
	if cfg := s.projectConfig(proj); keys.IsTrue(cfg, "restricted") && restriction(cfg, "restricted.snapshots", "block") == "block" {
		return apierr.BadRequest("project %q is restricted: snapshots are blocked (restricted.snapshots)", proj)
	}
	return nil
}

// checkBackupsAllowed refuses backups in a project that blocks them.
func (s *Service) checkBackupsAllowed(key string) error {
	proj, _ := project.SplitKey(key)
	if cfg := s.projectConfig(proj); keys.IsTrue(cfg, "restricted") && restriction(cfg, "restricted.backups", "block") == "block" {
		return apierr.BadRequest("project %q is restricted: backups are blocked (restricted.backups)", proj)
	}
	return nil
}
