package instance

import (
	"sort"
	"strings"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/limits"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/storage"
)

// limits.disk is LXD's aggregate of declared sizes, not of bytes
// written: the size of each instance's root disk and of each custom
// volume of the project. Declared sizes are what a tenant is promised,
// and what a quota enforces where the pool can; counting bytes instead
// would let a project overcommit the host.

// projectVolumes lists project proj's own custom volumes, on every pool,
// leaving out the one that a change is about to replace (pool/name).
func (s *Service) projectVolumes(proj, replacingPool, replacingName string) ([]storage.VolumeRecord, error) {
	if s.pools == nil {
		return nil, nil
	}
	pools, err := s.pools.Names()
	if err != nil {
		return nil, err
	}
	var out []storage.VolumeRecord
	for _, pool := range pools {
		vols, err := s.pools.CustomVolumes(pool)
		if err != nil {
			return nil, err
		}
		for _, v := range vols {
			if project.Name(v.Project) == project.Name(proj) && (v.Pool != replacingPool || v.Name != replacingName) {
				out = append(out, v)
			}
		}
	}
	return out, nil
}

// rootDiskSize is the size set on an instance's root disk ("" for none).
func rootDiskSize(e Expanded) string {
	if name := rootDisk(e.Devices); name != "" {
		return e.Devices[name]["size"]
	}
	return ""
}

// fitDisk checks a project's instances and custom volumes against its
// limits.disk: each must declare a size, and their sum must stay under.
func fitDisk(proj, limit string, instances []Expanded, volumes []storage.VolumeRecord) error {
	max, err := limits.ParseSize(limit)
	if err != nil {
		return apierr.BadRequest("project %q: limits.disk: %v", proj, err)
	}
	var sum int64
	var names []string
	for _, e := range instances {
		size := rootDiskSize(e)
		if size == "" {
			return apierr.BadRequest("project %q limits limits.disk: instance %q must set a size on its root disk (directly or through a profile)", proj, e.Name)
		}
		n, err := limits.ParseSize(size)
		if err != nil {
			return apierr.BadRequest("project %q limits limits.disk: instance %q: %v", proj, e.Name, err)
		}
		sum += n
		names = append(names, "instance "+e.Name)
	}
	for _, v := range volumes {
		size := v.Config["size"]
		if size == "" {
			return apierr.BadRequest("project %q limits limits.disk: custom volume %q on pool %q must set a size", proj, v.Name, v.Pool)
		}
		n, err := limits.ParseSize(size)
		if err != nil {
			return apierr.BadRequest("project %q limits limits.disk: custom volume %q: %v", proj, v.Name, err)
		}
		sum += n
		names = append(names, "volume "+v.Name)
	}
	if sum > max {
		sort.Strings(names)
		return apierr.BadRequest("project %q: limits.disk is %s, and its disks (%s) would take %d MiB together", proj, limit, strings.Join(names, ", "), sum>>20)
	}
	return nil
}

// diskUse is the sum of the sizes a project's instances and custom
// volumes declare (those without one count nothing), for its state.
func diskUse(instances []Expanded, volumes []storage.VolumeRecord) int64 {
	var sum int64
	for _, e := range instances {
		if n, err := limits.ParseSize(rootDiskSize(e)); err == nil {
			sum += n
		}
	}
	for _, v := range volumes {
		if n, err := limits.ParseSize(v.Config["size"]); err == nil {
			sum += n
		}
	}
	return sum
}

// CheckVolumeLimits checks that custom volume v (new, or with a new
// config) keeps project proj within its limits.disk.
func (s *Service) CheckVolumeLimits(proj string, v storage.VolumeRecord) error {
	proj = project.Name(proj)
	limit := s.projectConfig(proj)["limits.disk"]
	if limit == "" {
		return nil
	}
	in, err := s.expandedIn(proj)
	if err != nil {
		return err
	}
	vols, err := s.projectVolumes(proj, v.Pool, v.Name)
	if err != nil {
		return err
	}
	return fitDisk(proj, limit, in, append(vols, v))
}

// ImageBudget is what project proj's limits.disk leaves for an image, in
// bytes (-1: no limit): the limit less its instances' root disks and its
// custom volumes, as LXD reckons it.
func (s *Service) ImageBudget(proj string) (int64, error) {
	proj = project.Name(proj)
	limit := s.projectConfig(proj)["limits.disk"]
	if limit == "" {
		return -1, nil
	}
	total, err := limits.ParseSize(limit)
	if err != nil {
		return 0, apierr.BadRequest("project %q: limits.disk: %v", proj, err)
	}
	in, err := s.expandedIn(proj)
	if err != nil {
		return 0, err
	}
	vols, err := s.projectVolumes(proj, "", "")
	if err != nil {
		return 0, err
	}
	return max(0, total-diskUse(in, vols)), nil
}
