package instance

import (
	"context"
	"slices"
	"strings"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/storage"
)

// rootPool names the pool of a root disk among expanded devices: its pool
// key, or the default pool for a root disk written without one.
func rootPool(devices map[string]map[string]string) string {
	if root := rootDisk(devices); root != "" && devices[root]["pool"] != "" {
		return devices[root]["pool"]
	}
	return storage.DefaultPool
}

// volumeOf names an expanded instance's root volume.
func volumeOf(e Expanded) storage.Volume {
	return storage.InstanceVolume(rootPool(e.Devices), e.Project, e.Type, e.Name)
}

// poolOf is the pool an expanded instance's volume is on, and the volume.
func (s *Service) poolOf(e Expanded) (storage.Driver, storage.Volume, error) {
	d, err := s.pools.Get(rootPool(e.Devices))
	return d, volumeOf(e), err
}

// poolFor is the pool of the named instance's volume, and the volume.
func (s *Service) poolFor(name string) (storage.Driver, storage.Volume, error) {
	e, _, err := s.load(name)
	if err != nil {
		return nil, storage.Volume{}, err
	}
	return s.poolOf(e)
}

// checkRootPool refuses a root disk on a pool that does not exist, or
// whose driver does not hold the instance's kind of volume.
func (s *Service) checkRootPool(e Expanded) error {
	p := rootPool(e.Devices)
	if !s.pools.Exists(p) {
		return apierr.BadRequest("instance %q: storage pool %q does not exist (lodge storage list shows the pools)", e.Name, p)
	}
	pool, vol, err := s.poolOf(e)
	if err != nil {
		return err
	}
	caps := pool.Capabilities()
	if !slices.Contains(caps.VolumeTypes, vol.Type) || (vol.Content == storage.ContentBlock && !caps.BlockVolumes) {
		return apierr.BadRequest("instance %q: storage pool %q (driver %s) cannot hold %s volumes", e.Name, p, pool.Name(), vol.Type)
	}
	if _, err := storage.ParseVolumeSize(pool, p, rootSize(e)); err != nil {
		return apierr.BadRequest("instance %q: root disk: %v", e.Name, err)
	}
	return nil
}

// rootSize is the size key of an expanded instance's root disk.
func rootSize(e Expanded) string {
	if root := rootDisk(e.Devices); root != "" {
		return e.Devices[root]["size"]
	}
	return ""
}

// applyRootSize limits the instance's root volume as its root disk says.
func (s *Service) applyRootSize(e Expanded) error {
	pool, vol, err := s.poolOf(e)
	if err != nil {
		return err
	}
	return storage.SetVolumeSize(pool, vol, rootSize(e))
}

// RootVolumes lists the instances whose root volume is on pool name.
func (s *Service) RootVolumes(name string) ([]string, error) {
	all, err := s.expandedAll()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range all {
		if rootPool(e.Devices) == name {
			out = append(out, e.Name)
		}
	}
	return out, nil
}

// PoolUsers lists what uses pool name, as API paths: instances whose root
// disk or another disk (a custom volume) is on it, and profiles with a disk
// on it.
func (s *Service) PoolUsers(name string) ([]string, error) {
	return s.diskUsers("", func(d map[string]string) bool { return d["pool"] == name },
		func(e Expanded) bool { return rootPool(e.Devices) == name }, nil)
}

// diskUsers lists, as API paths, the instances (expanded) and profiles of
// project proj (every project's when empty) with a disk device that match
// says yes to, and the instances that also says yes to.
func (s *Service) diskUsers(proj string, match func(disk map[string]string) bool, also func(Expanded) bool, scope func(string) string) ([]string, error) {
	// scope maps an object's project to the one whose objects its disks
	// name (custom volumes: the project's own, or the default project's).
	in := func(key string) bool {
		if proj == "" {
			return true
		}
		p, _ := project.SplitKey(key)
		if scope != nil {
			p = scope(p)
		}
		return p == proj
	}
	hasDisk := func(devices map[string]map[string]string) bool {
		for _, d := range devices {
			if d["type"] == "disk" && match(d) {
				return true
			}
		}
		return false
	}
	all, err := s.expandedAll()
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, e := range all {
		if !in(e.key()) {
			continue
		}
		if hasDisk(e.Devices) || (also != nil && also(e)) {
			out = append(out, instanceURL(e.key()))
		}
	}
	ps, err := s.allProfiles()
	if err != nil {
		return nil, err
	}
	for _, key := range sortedKeys(ps) {
		if in(key) && hasDisk(ps[key].Devices) {
			out = append(out, profileURL(key))
		}
	}
	return out, nil
}

// DeletePool removes a storage pool nothing uses. Creates, copies and
// image unpacks hold the pools while they run (Pools.Hold), so none lands
// on a pool going away.
func (s *Service) DeletePool(name string) error {
	return s.pools.DeleteUnused(name, func() ([]string, error) { return s.PoolUsers(name) })
}

// samePool refuses a change that would move an instance's root disk to
// another pool: its volume would stay where it is.
func samePool(old, cur Expanded) error {
	if from, to := rootPool(old.Devices), rootPool(cur.Devices); from != to {
		return apierr.BadRequest("instance %q has its root disk on storage pool %q; moving it to %q is not supported yet", cur.Name, from, to)
	}
	return nil
}

// checkDiskPools refuses disks on pools that do not exist.
func (s *Service) checkDiskPools(devices map[string]map[string]string) error {
	for name, d := range devices {
		if p := d["pool"]; d["type"] == "disk" && p != "" && !s.pools.Exists(p) {
			return apierr.BadRequest("device %q: storage pool %q does not exist", name, p)
		}
	}
	return nil
}

// VolumeUsers lists what attaches custom volume name of pool in project
// proj: its instances and profiles with a disk on it.
func (s *Service) VolumeUsers(proj, pool, name string) ([]string, error) {
	return s.diskUsers(project.Name(proj), func(d map[string]string) bool {
		return d["path"] != "/" && d["pool"] == pool && d["source"] == name
	}, nil, s.volumesProject)
}

// DeleteCustomVolume deletes a custom volume nothing attaches. Instance
// and profile edits hold the pools while they commit (Update,
// UpdateProfile), so an attach cannot slip in between the check and the
// delete.
func (s *Service) DeleteCustomVolume(proj, pool, name string) error {
	return s.pools.DeleteCustomVolumeUnused(pool, proj, name, func() ([]string, error) { return s.VolumeUsers(proj, pool, name) })
}

// RenameCustomVolume renames a custom volume nothing attaches.
func (s *Service) RenameCustomVolume(proj, pool, name, newName string) error {
	return s.pools.RenameCustomVolume(pool, proj, name, newName, func() ([]string, error) { return s.VolumeUsers(proj, pool, name) })
}

// MoveCustomVolume moves a custom volume nothing attaches to another pool
// or project (dstProj; "" is its own).
func (s *Service) MoveCustomVolume(ctx context.Context, proj, pool, name, dstPool, dstProj, dstName string) error {
	return s.pools.MoveCustomVolume(ctx, pool, proj, name, dstPool, dstProj, dstName, func() ([]string, error) { return s.VolumeUsers(proj, pool, name) })
}

// RestoreCustomVolume restores a custom volume to a snapshot, refused
// while a running instance has it attached (it would see its files change
// under it).
func (s *Service) RestoreCustomVolume(ctx context.Context, proj, pool, name, snap string) error {
	if err := s.VolumeIdle(proj, pool, name); err != nil {
		return err
	}
	return s.pools.RestoreCustomVolume(ctx, pool, proj, name, snap)
}

// VolumeIdle refuses a custom volume a running instance has attached: a
// restore or a refresh would change its files under it.
func (s *Service) VolumeIdle(proj, pool, name string) error {
	users, err := s.VolumeUsers(proj, pool, name)
	if err != nil {
		return err
	}
	for _, u := range users {
		if path, ok := strings.CutPrefix(u, "/1.0/instances/"); ok {
			path, q, _ := strings.Cut(path, "?project=")
			key := project.StoreKey(q, path)
			if st, _ := s.status(key); st != runtime.StateStopped {
				return apierr.BadRequest("storage volume %q is attached to running instance %q: stop it first", name, path)
			}
		}
	}
	return nil
}
