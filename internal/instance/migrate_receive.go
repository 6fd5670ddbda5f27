package instance

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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
	proj = project.Name(proj)
	if err := validate.InstanceName(req.Name); err != nil {
		return nil, nil, err
	}
	free, err := s.reserveName(project.StoreKey(proj, req.Name))
	if err != nil {
		return nil, nil, err
	}
	m := &migrating{req: *req}
	var once sync.Once
	release = func() {
		once.Do(func() {
			free()
			// An isolated range handed out for a migration that never ran.
			s.releasePending(m.idmap)
		})
	}
	work, err := s.prepareCreate(proj, *req, m)
	if err != nil {
		release()
		return nil, nil, err
	}
	sink = &migration.Sink{Driver: m.streamDriver, Make: func(ctx context.Context, in *migration.Incoming) error {
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
	// streamDriver is the target pool's driver when it takes its own
	// streams (storage.Streamer).
	streamDriver string
	// idmap is the map the instance gets (idmapFor).
	idmap *idmap.Map
}

func (m *migrating) prepare(s *Service, rec Record, e Expanded) (func(ctx context.Context) error, error) {
	var err error
	if rec.IDMap, err = s.idmapFor(rec.key(), e.Config, nil); err != nil {
		return nil, err
	}
	m.idmap = rec.IDMap
	if m.req.Architecture != "" {
		rec.Architecture = m.req.Architecture
	}
	for k, v := range migratedConfig(m.req.Config) {
		if strings.HasPrefix(k, "volatile.") {
			rec.Config[k] = v
		}
	}
	poolName := rootPool(e.Devices)
	if pool, err := s.pools.Get(poolName); err == nil {
		if _, ok := pool.(storage.Streamer); ok {
			m.streamDriver = pool.Name()
		}
	}
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
		base := m.baseImage(s, rec)
		transfer := "rsync"
		switch {
		case in.LXDBtrfs:
			transfer = "LXD's BTRFS streams"
		case in.Streams:
			transfer = pool.Name() + " streams"
		case base != "":
			transfer = "rsync onto image " + base[:min(12, len(base))]
		}
		s.log.Info("receiving an instance from another host", "instance", rec.Name, "transfer", transfer, "snapshots", len(in.Snapshots))
		return s.createWith(rec, snaps, pool, vol, func() error {
			if in.Streams {
				return receiveStreams(ctx, pool, vol, in, files, rec.IDMap)
			}
			if err := s.receiveTrees(ctx, pool, vol, base, in, files, rec.IDMap); err != nil {
				_ = pool.DeleteVolume(vol)
				return err
			}
			return nil
		})
	}, nil
}

// baseImage is the image the instance was made from, when this host has
// it too: the volume then starts as that image (as LXD's rsync target
// does), and rsync sends only what the instance changed.
func (m *migrating) baseImage(s *Service, rec Record) string {
	fp := m.req.Source.BaseImage
	if fp == "" {
		fp = rec.Config["volatile.base_image"]
	}
	if fp == "" || m.in.Offer.FS != migration.FSRsync {
		return ""
	}
	if _, _, err := s.images.Get(s.imagesProject(rec.Project), fp); err != nil {
		return ""
	}
	return fp
}

// receiveTrees fills a new volume as the source sends it, from the base
// image when there is one: each snapshot's tree, checked, moved onto the
// instance's map and snapshotted, then the volume's (and its final sync).
func (s *Service) receiveTrees(ctx context.Context, pool storage.Driver, vol storage.Volume, base string, in *migration.Incoming, files, to *idmap.Map) error {
	if base != "" {
		if err := s.images.EnsureVolume(ctx, pool, base); err != nil {
			return err
		}
		if err := pool.CreateVolumeFromImage(ctx, vol, base, to); err != nil {
			return err
		}
	} else if err := pool.CreateEmptyVolume(vol); err != nil {
		return err
	}
	dir := pool.VolumePath(vol)
	for _, sn := range in.Snapshots {
		if err := receiveTree(ctx, in, dir, fmt.Sprintf("the source's snapshot %q", sn.Name), files, to); err != nil {
			return err
		}
		if err := pool.CreateSnapshot(ctx, vol, sn.Name); err != nil {
			return fmt.Errorf("snapshot %q: %w", sn.Name, err)
		}
	}
	return receiveInstance(ctx, in, dir, files, to)
}

// receiveStreams makes the volume and its snapshots from the pool
// driver's own streams (btrfs receive), each tree then checked and moved
// onto the instance's map as a received backup's is. A failure leaves
// nothing (ReceiveStreams' promise).
func receiveStreams(ctx context.Context, pool storage.Driver, vol storage.Volume, in *migration.Incoming, files, to *idmap.Map) error {
	st, err := streamer(pool)
	if err != nil {
		return err
	}
	if err := st.ReceiveStreams(ctx, vol, incomingStreams(in), streamFix(files, to)); err != nil {
		return err
	}
	crashpoint.Hit("migration.received")
	return nil
}

// incomingStreams gives the streams of in in turn: each snapshot's, the
// last of them kept as received (the parent of a later refresh's
// streams), then the volume's.
func incomingStreams(in *migration.Incoming) func() (storage.VolumeStream, error) {
	i := 0
	return func() (storage.VolumeStream, error) {
		switch {
		case i < len(in.Snapshots):
			i++
			return storage.VolumeStream{Snapshot: in.Snapshots[i-1].Name, Keep: i == len(in.Snapshots), R: in.NextStream()}, nil
		case i == len(in.Snapshots):
			i++
			return storage.VolumeStream{R: in.NextStream()}, nil
		}
		return storage.VolumeStream{}, io.EOF
	}
}

// streamFix checks a tree a stream made and moves it from the source's
// map (files) onto the instance's (to).
func streamFix(files, to *idmap.Map) func(dir, snap string) error {
	return func(dir, snap string) error {
		return settleStreamTree(dir, snap, "the source's", files, to)
	}
}

// receiveInstance receives the instance's own tree, and its final sync.
func receiveInstance(ctx context.Context, in *migration.Incoming, dir string, files, to *idmap.Map) error {
	if err := receiveTree(ctx, in, dir, "the source's instance", files, to); err != nil {
		return err
	}
	if in.FinalSync {
		if err := receiveTree(ctx, in, dir, "the source's instance (final sync)", files, to); err != nil {
			return err
		}
	}
	crashpoint.Hit("migration.received")
	return nil
}

// hostOwned are the entries at a volume's top that are the host's, not
// the instance's: what LXD's image left beside rootfs/.
var hostOwned = []string{"metadata.yaml", "templates"}

// stagingDir is where a received tree's top lands, in the volume, while
// it is checked: the volume's own files (Lodge's, such as a layered
// volume's) are out of the sender's reach.
const stagingDir = ".migration"

// receiveTree brings the next tree into the volume at dir and settles it:
// rootfs/ is written in place, and must hold no device node and no owner
// off the map the source announced (files), whose ids move onto the
// instance's (to); of the rest of the tree, only the host's entries are
// taken (a regular metadata.yaml, a templates/ folder), made the host
// root's. A source may send anything else (backup.yaml, say): it is
// dropped with the staging folder.
func receiveTree(ctx context.Context, in *migration.Incoming, dir, what string, files, to *idmap.Map) error {
	staging := filepath.Join(dir, stagingDir)
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.RemoveAll(staging); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(staging, "rootfs"), 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(staging)
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return err
	}
	if err := in.Receive(ctx, staging, rootfs); err != nil {
		return fmt.Errorf("receive %s: %w", what, err)
	}
	for _, name := range hostOwned {
		if err := adoptHostEntry(staging, dir, name); err != nil {
			return apierr.BadRequest("%s: %v", what, err)
		}
	}
	skip := map[string]bool{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() != "rootfs" {
			skip[e.Name()] = true
		}
	}
	// One walk drops the device nodes and moves the owners.
	if err := idmap.SettleImported(dir, files, to, skip); err != nil {
		return apierr.BadRequest("%s: %v", what, err)
	}
	return os.Chmod(dir, 0o711)
}

// adoptHostEntry moves name from the staging folder to the volume, when
// the tree had it: metadata.yaml a regular file, templates/ a folder
// (its device nodes dropped), owned by the host's root; a link or another
// kind is refused.
func adoptHostEntry(staging, dir, name string) error {
	from := filepath.Join(staging, name)
	fi, err := os.Lstat(from)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	wantDir := name == "templates"
	if fi.Mode()&fs.ModeSymlink != 0 || fi.IsDir() != wantDir || (!wantDir && !fi.Mode().IsRegular()) {
		return fmt.Errorf("%s is a %s", name, fi.Mode().Type())
	}
	if err := backup.DropDeviceNodes(from); err != nil {
		return err
	}
	err = filepath.WalkDir(from, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, 0, 0)
	})
	if err != nil {
		return err
	}
	to := filepath.Join(dir, name)
	if err := os.RemoveAll(to); err != nil {
		return err
	}
	return os.Rename(from, to)
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
