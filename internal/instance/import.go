package instance

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/backup"
	"github.com/lodge-project/lodge/internal/crashpoint"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/storage"
)

// imported is a backup tarball an instance is made from: the index, and
// the id maps its trees' files are on.
type imported struct {
	file  string
	idx   backup.Index
	files *idmap.Map
	snaps []importedSnapshot
	// chain holds the earlier backups an incremental one builds on,
	// oldest first.
	chain []chainLink
}

type importedSnapshot struct {
	api   *api.InstanceSnapshot
	files *idmap.Map
}

// PrepareImport checks the backup tarball at file (LXD's layout, from
// Lodge or LXD) and returns the name of the instance it makes and the
// work that makes it, to run as an operation. pool and name, when given,
// override the backup's (X-LXD-pool, X-LXD-name).
func (s *Service) PrepareImport(ctx context.Context, proj, file string, chain []string, pool, name string) (string, func(ctx context.Context) error, error) {
	idx, err := backup.ReadIndex(ctx, file)
	if err != nil {
		return "", nil, err
	}
	links, err := readChain(ctx, idx, chain)
	if err != nil {
		return "", nil, err
	}
	if idx.Type != string(typeContainer) {
		return "", nil, apierr.BadRequest("the backup is of a %s; only containers can be imported here", idx.Type)
	}
	if idx.Config == nil || idx.Config.Container == nil {
		return "", nil, apierr.BadRequest("the backup says nothing of its instance (no config in index.yaml or backup.yaml)")
	}
	c := idx.Config.Container
	if name == "" {
		name = idx.Name
	}
	if name == "" {
		name = c.Name
	}
	from := &imported{file: file, idx: idx, chain: links}
	if from.files, err = backup.FilesIDMap(c.Config); err != nil {
		return "", nil, apierr.BadRequest("the backup's instance: %v", err)
	}
	byName := map[string]*api.InstanceSnapshot{}
	for _, sn := range idx.Config.Snapshots {
		if sn != nil {
			byName[sn.Name] = sn
		}
	}
	for _, n := range idx.Snapshots {
		if err := validateSnapshotName(n); err != nil {
			return "", nil, apierr.BadRequest("the backup's snapshot: %v", err)
		}
		sn := byName[n]
		if sn == nil {
			return "", nil, apierr.BadRequest("the backup holds snapshot %q but says nothing of it in its config", n)
		}
		files, err := backup.FilesIDMap(sn.Config)
		if err != nil {
			return "", nil, apierr.BadRequest("the backup's snapshot %q: %v", n, err)
		}
		if sn.Config["volatile.last_state.idmap"] == "" {
			files = from.files
		}
		from.snaps = append(from.snaps, importedSnapshot{api: sn, files: files})
	}
	devices := map[string]map[string]string{}
	for k, d := range c.Devices {
		devices[k] = copyMap(d)
	}
	if pool == "" && s.pools.Exists(idx.Pool) {
		pool = idx.Pool
	}
	if pool != "" {
		if !s.pools.Exists(pool) {
			return "", nil, apierr.BadRequest("storage pool %q does not exist", pool)
		}
		if root := rootDisk(devices); root != "" {
			devices[root]["pool"] = pool
		} else {
			devices["root"] = map[string]string{"type": "disk", "path": "/", "pool": pool}
		}
	}
	if idx.IsOptimized() {
		target := rootPool(devices)
		d, err := s.pools.Get(target)
		if err != nil {
			return "", nil, apierr.BadRequest("storage pool %q: %v", target, err)
		}
		if err := checkOptimizedImport(idx, d); err != nil {
			return "", nil, err
		}
	}
	typ := c.Type
	if typ == "" {
		typ = string(typeContainer)
	}
	req := &api.InstancesPost{Name: name, Type: typ, Source: api.InstanceSource{Type: "none"},
		InstancePut: api.InstancePut{Architecture: c.Architecture, Config: withoutVolatile(c.Config), Devices: devices,
			Profiles: c.Profiles, Ephemeral: c.Ephemeral, Description: c.Description}}
	work, err := s.prepareNamed(proj, req, from)
	if err != nil {
		return "", nil, err
	}
	return req.Name, work, nil
}

// origin is where a new instance's files come from when not from an
// image or a copy here: a backup (imported) or another host (migrating).
// It finishes the record and returns the work that fills the volume.
type origin interface {
	prepare(s *Service, rec Record, e Expanded) (func(ctx context.Context) error, error)
}

func (from *imported) prepare(s *Service, rec Record, e Expanded) (func(ctx context.Context) error, error) {
	return s.prepareImport(rec, e, from)
}

// prepareImport finishes a record made from a backup and returns the
// work that unpacks it.
func (s *Service) prepareImport(rec Record, e Expanded, from *imported) (func(ctx context.Context) error, error) {
	c := from.idx.Config.Container
	if c.Architecture != "" {
		rec.Architecture = c.Architecture
	}
	if base := c.Config["volatile.base_image"]; base != "" {
		rec.Config["volatile.base_image"] = base
	}
	var err error
	if rec.IDMap, err = s.idmapFor(rec.key(), e.Config, nil); err != nil {
		return nil, err
	}
	var snaps []SnapshotRecord
	for _, sn := range from.snaps {
		a := sn.api
		snaps = append(snaps, SnapshotRecord{Instance: rec.key(), Name: a.Name, Architecture: rec.Architecture,
			Description: a.Description, Config: withoutVolatile(a.Config), Devices: onRootPool(a.Devices, rec.Devices), Profiles: a.Profiles,
			Ephemeral: a.Ephemeral, CreatedAt: a.CreatedAt, ExpiresAt: a.ExpiresAt,
			Files: &SnapshotFiles{IDMap: rec.IDMap}})
	}
	poolName := rootPool(e.Devices)
	return func(ctx context.Context) error {
		defer s.pools.Hold()()
		pool, err := s.pools.Get(poolName)
		if err != nil {
			return err
		}
		vol := storage.InstanceVolume(poolName, rec.Project, rec.Type, rec.Name)
		unpack := s.unpackBackup
		if from.idx.IsOptimized() {
			unpack = s.receiveBackup
		}
		return s.createWith(rec, snaps, pool, vol, func() error {
			if err := unpack(ctx, pool, vol, from, rec.IDMap); err != nil {
				_ = pool.DeleteVolume(vol)
				return err
			}
			return nil
		})
	}, nil
}

// onRootPool is a snapshot's devices with its root disk on the pool the
// imported instance's own devices put it on: a restore must not move the
// instance's root to where the snapshot was taken.
func onRootPool(snapDevices, devices map[string]map[string]string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for k, d := range snapDevices {
		out[k] = copyMap(d)
	}
	root := rootDisk(devices)
	if root == "" {
		return out
	}
	if out[root] == nil || out[root]["path"] != "/" {
		out[root] = copyMap(devices[root])
	}
	out[root]["pool"] = devices[root]["pool"]
	return out
}

// unpackBackup fills a new volume from the backup (and its chain, oldest
// first): each snapshot's tree in turn, snapshotted, then the instance's,
// which an incremental backup's changes are merged into, every file moved
// onto the instance's map.
func (s *Service) unpackBackup(ctx context.Context, pool storage.Driver, vol storage.Volume, from *imported, to *idmap.Map) error {
	plan, err := planChain(from)
	if err != nil {
		return err
	}
	if err := pool.CreateEmptyVolume(vol); err != nil {
		return err
	}
	dir := pool.VolumePath(vol)
	settle := func(member string, files *idmap.Map) error {
		return settleTree(dir, "the backup's "+member, files, to)
	}
	fill := func(file, member string) error {
		if err := storage.EmptyDir(dir); err != nil {
			return err
		}
		return backup.Extract(ctx, file, member, dir)
	}
	for _, sn := range from.snaps {
		member := "backup/snapshots/" + sn.api.Name
		if err := fill(plan.links[plan.makes[sn.api.Name]].file, member); err != nil {
			return err
		}
		if err := settle(member, sn.files); err != nil {
			return err
		}
		if err := pool.CreateSnapshot(ctx, vol, sn.api.Name); err != nil {
			return fmt.Errorf("snapshot %q: %w", sn.api.Name, err)
		}
	}
	if err := fill(plan.links[0].file, "backup/container"); err != nil {
		return err
	}
	for _, l := range plan.links[1:] {
		if err := mergeIncrement(ctx, dir, l.file); err != nil {
			return err
		}
	}
	if err := settle("backup/container", from.files); err != nil {
		return err
	}
	crashpoint.Hit("backup.imported")
	return nil
}

// settleTree makes a tree that came from outside (a backup, another host)
// fit to be an instance's: checked (backup.CheckTree), its files moved
// from the map they came on to the instance's, refusing any other owner,
// and its top as Lodge keeps it. what names the tree in errors.
func settleTree(dir, what string, files, to *idmap.Map) error {
	if err := backup.CheckTree(dir); err != nil {
		return err
	}
	if err := idmap.ShiftImported(dir, files, to); err != nil {
		return apierr.BadRequest("%s: %v", what, err)
	}
	if err := os.Remove(filepath.Join(dir, "backup.yaml")); err != nil && !os.IsNotExist(err) {
		return err
	}
	return os.Chmod(dir, 0o711)
}

// mergeIncrement applies an incremental backup of files to the volume at
// dir: the paths it deleted go, and its changed entries, unpacked beside,
// are merged in. The tree is untrusted: os.Root keeps every path inside.
func mergeIncrement(ctx context.Context, dir, file string) error {
	data, err := backup.ReadMember(ctx, file, backup.DeletedMember)
	if err != nil {
		return err
	}
	var deleted []string
	if err := yaml.Unmarshal(data, &deleted); err != nil {
		return apierr.BadRequest("the backup's %s: %v", backup.DeletedMember, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := backup.RemovePaths(root, deleted); err != nil {
		return err
	}
	const scratch = ".lodge-increment"
	if err := root.RemoveAll(scratch); err != nil {
		return err
	}
	if err := root.Mkdir(scratch, 0o700); err != nil {
		return err
	}
	defer func() { _ = root.RemoveAll(scratch) }()
	if err := backup.Extract(ctx, file, "backup/container", filepath.Join(dir, scratch)); err != nil {
		return err
	}
	return backup.Merge(root, scratch, ".")
}
