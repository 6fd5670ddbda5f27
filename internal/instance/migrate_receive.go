package instance

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/backup"
	"github.com/lodge-project/lodge/internal/crashpoint"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/migration"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/validate"
)

// PrepareMigration checks the request that makes an instance from another
// host (source.type=migration) and reserves its name. The sink it returns
// makes the instance as the protocol delivers it; release frees the name
// when the sink was never run (it is safe to call in any case).
func (s *Service) PrepareMigration(proj string, req *api.InstancesPost) (sink *migration.Sink, release func(), err error) {
	if req.Source.Refresh {
		return nil, nil, apierr.BadRequest("copy --refresh is not supported yet")
	}
	proj = project.Name(proj)
	if err := validate.InstanceName(req.Name); err != nil {
		return nil, nil, err
	}
	free, err := s.reserveName(project.StoreKey(proj, req.Name))
	if err != nil {
		return nil, nil, err
	}
	var once sync.Once
	release = func() { once.Do(free) }
	m := &migrating{req: *req}
	work, err := s.prepareCreate(proj, *req, m)
	if err != nil {
		release()
		return nil, nil, err
	}
	sink = &migration.Sink{Make: func(ctx context.Context, in *migration.Incoming) error {
		defer release()
		m.in = in
		return work(ctx)
	}}
	return sink, release, nil
}

// migrating is an instance coming from another host: in is what the
// protocol delivers, set before the work runs.
type migrating struct {
	req api.InstancesPost
	in  *migration.Incoming
}

func (m *migrating) prepare(s *Service, rec Record, e Expanded) (func(ctx context.Context) error, error) {
	var err error
	if rec.IDMap, err = s.idmapFor(rec.key(), e.Config, nil); err != nil {
		return nil, err
	}
	if m.req.Architecture != "" {
		rec.Architecture = m.req.Architecture
	}
	for k, v := range migratedConfig(m.req.Config) {
		if strings.HasPrefix(k, "volatile.") {
			rec.Config[k] = v
		}
	}
	poolName := rootPool(e.Devices)
	return func(ctx context.Context) error {
		in := m.in
		files, err := offeredMap(in.Offer.IDMap)
		if err != nil {
			return apierr.BadRequest("the source's id map: %v", err)
		}
		snaps, err := m.snapshotRecords(rec)
		if err != nil {
			return err
		}
		defer s.pools.Hold()()
		pool, err := s.pools.Get(poolName)
		if err != nil {
			return err
		}
		vol := storage.InstanceVolume(poolName, rec.Project, rec.Type, rec.Name)
		return s.createWith(rec, snaps, pool, vol, func() error {
			if err := s.receiveTrees(ctx, pool, vol, in, files, rec.IDMap); err != nil {
				_ = pool.DeleteVolume(vol)
				return err
			}
			return nil
		})
	}, nil
}

// receiveTrees fills a new volume as the source sends it: each snapshot's
// tree, checked, moved onto the instance's map and snapshotted, then the
// volume's (and its final sync).
func (s *Service) receiveTrees(ctx context.Context, pool storage.Driver, vol storage.Volume, in *migration.Incoming, files, to *idmap.Map) error {
	if err := pool.CreateEmptyVolume(vol); err != nil {
		return err
	}
	dir := pool.VolumePath(vol)
	for _, sn := range in.Snapshots {
		if err := in.Receive(ctx, dir); err != nil {
			return fmt.Errorf("receive snapshot %q: %w", sn.Name, err)
		}
		if err := settleReceived(dir, fmt.Sprintf("the source's snapshot %q", sn.Name), files, to); err != nil {
			return err
		}
		if err := pool.CreateSnapshot(ctx, vol, sn.Name); err != nil {
			return fmt.Errorf("snapshot %q: %w", sn.Name, err)
		}
	}
	if err := in.Receive(ctx, dir); err != nil {
		return fmt.Errorf("receive the instance: %w", err)
	}
	if in.FinalSync {
		if err := in.Receive(ctx, dir); err != nil {
			return fmt.Errorf("receive the instance's final sync: %w", err)
		}
	}
	crashpoint.Hit("migration.received")
	return settleReceived(dir, "the source's instance", files, to)
}

// hostOwned are the entries at a volume's top that are the host's, not
// the instance's: what LXD's image left beside rootfs/.
var hostOwned = map[string]bool{"metadata.yaml": true, "templates": true}

// settleReceived makes a tree another host sent fit to be an instance's
// (see settleTree): only rootfs/ and the host's entries are kept at its
// top (a source may send its own files, such as backup.yaml), rootfs/ is
// moved onto the instance's map, the rest made the host root's.
func settleReceived(dir, what string, files, to *idmap.Map) error {
	if err := backup.CheckTree(dir); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == "rootfs" {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if !hostOwned[e.Name()] {
			if err := os.RemoveAll(p); err != nil {
				return err
			}
			continue
		}
		err := filepath.WalkDir(p, func(path string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(path, 0, 0)
		})
		if err != nil {
			return err
		}
	}
	if err := idmap.ShiftImportedExcept(dir, files, to, hostOwned); err != nil {
		return apierr.BadRequest("%s: %v", what, err)
	}
	return os.Chmod(dir, 0o711)
}

// snapshotRecords are the records of the snapshots the source sends,
// from its descriptions (the index header's, when it sent one, has their
// descriptions and expiry too).
func (m *migrating) snapshotRecords(rec Record) ([]SnapshotRecord, error) {
	byName := map[string]*api.InstanceSnapshot{}
	if m.in.Info != nil && m.in.Info.Config != nil {
		for _, sn := range m.in.Info.Config.Snapshots {
			if sn != nil {
				byName[sn.Name] = sn
			}
		}
	}
	seen := map[string]bool{}
	var out []SnapshotRecord
	for _, w := range m.in.Snapshots {
		if err := validateSnapshotName(w.Name); err != nil {
			return nil, apierr.BadRequest("the source's snapshot: %v", err)
		}
		if seen[w.Name] {
			return nil, apierr.BadRequest("the source sends snapshot %q twice", w.Name)
		}
		seen[w.Name] = true
		devices := map[string]map[string]string{}
		for _, d := range w.LocalDevices {
			devices[d.Name] = d.Config
		}
		r := SnapshotRecord{Instance: rec.key(), Name: w.Name, Architecture: migration.ArchitectureName(w.Architecture),
			Config: migratedConfig(w.LocalConfig), Devices: onRootPool(devices, rec.Devices), Profiles: w.Profiles,
			Ephemeral: w.Ephemeral, CreatedAt: unixTime(w.CreationDate), ExpiresAt: unixTime(w.ExpiryDate),
			Files: &SnapshotFiles{IDMap: rec.IDMap}}
		if r.Architecture == "" {
			r.Architecture = rec.Architecture
		}
		if a := byName[w.Name]; a != nil {
			r.Description = a.Description
			if !a.ExpiresAt.IsZero() {
				r.ExpiresAt = a.ExpiresAt
			}
		}
		if r.CreatedAt.IsZero() {
			r.CreatedAt = time.Now().UTC()
		}
		out = append(out, r)
	}
	return out, nil
}

// unixTime reads a protocol date; none, or LXD's zero time, is zero.
func unixTime(t *int64) time.Time {
	if t == nil || *t <= 0 {
		return time.Time{}
	}
	return time.Unix(*t, 0).UTC()
}

// offeredMap is the map the source's files are on, from its header's
// entries (none: the instance's own ids).
func offeredMap(entries []migration.IDMapEntry) (*idmap.Map, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	type lxdEntry struct {
		Isuid, Isgid           bool
		Hostid, Nsid, Maprange int64
	}
	var out []lxdEntry
	for _, e := range entries {
		out = append(out, lxdEntry{Isuid: e.IsUID, Isgid: e.IsGID, Hostid: int64(e.HostID), Nsid: int64(e.NsID), Maprange: int64(e.MapRange)})
	}
	data, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	return backup.FilesIDMap(map[string]string{"volatile.last_state.idmap": string(data)})
}

// migratedConfig is an instance's config as another host sent it: its
// volatile keys stay (a moved instance keeps its MAC addresses) but those
// of the source host's own state (id maps, power state).
func migratedConfig(cfg map[string]string) map[string]string {
	out := withoutIDMapKeys(cfg)
	for k := range out {
		if strings.HasPrefix(k, "volatile.last_state.") || k == "volatile.apply_template" {
			delete(out, k)
		}
	}
	return out
}
