package instance

import (
	"context"
	"fmt"
	"io"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/crashpoint"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/migration"
	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/store"
)

// MigrationSource describes instance key to the migration protocol, to
// be sent to another host: its config (the index header), its snapshots
// unless instanceOnly, the map its files are on, and its trees. A
// running instance is frozen while its volume is read, so that each pass
// is consistent.
func (s *Service) MigrationSource(key string, instanceOnly bool) (*migration.Source, error) {
	e, _, err := s.load(key)
	if err != nil {
		return nil, err
	}
	var snaps []SnapshotRecord
	if !instanceOnly {
		if snaps, err = s.snapshotRecords(key); err != nil {
			return nil, err
		}
	}
	for _, sn := range snaps {
		// The protocol has one map for every tree.
		if !sameMap(sn.filesIDMap(e.IDMap), e.IDMap) {
			return nil, apierr.BadRequest("snapshot %q of %q has its files on another id map than the instance (its isolation changed since): copy it with --instance-only, or delete that snapshot", sn.Name, e.Name)
		}
	}
	cfg, err := s.backupConfig(e, snaps)
	if err != nil {
		return nil, err
	}
	rt := s.runtimeOf(e.Type)
	st, _ := rt.Status(key)
	src := &migration.Source{Info: migration.Info{Config: cfg}, IDMap: idmapEntries(e.IDMap), Running: st != runtime.StateStopped,
		Only: backupEntries}
	for _, sn := range snaps {
		src.Snapshots = append(src.Snapshots, snapshotToWire(sn))
	}
	s.sendVolume(e, src, "")
	return src, nil
}

// SnapshotMigrationSource describes snapshot snap of instance key to the
// migration protocol as an instance of its own (lxc copy c1/snap0
// other:c2): its config in the index header, no snapshots, and its tree
// as the volume's. A snapshot does not change, so nothing is frozen.
func (s *Service) SnapshotMigrationSource(key, snap string) (*migration.Source, error) {
	e, _, err := s.load(key)
	if err != nil {
		return nil, err
	}
	sn, _, err := store.Get[SnapshotRecord](s.db, store.Snapshots, snapKey(key, snap))
	if err != nil {
		return nil, err
	}
	cfg, err := s.backupConfig(e, nil)
	if err != nil {
		return nil, err
	}
	// The index header describes what is sent: the snapshot's config.
	cfg.Container.Config, cfg.Container.Devices = withoutIDMapKeys(sn.Config), sn.Devices
	cfg.Container.Profiles, cfg.Container.Ephemeral, cfg.Container.Architecture = sn.Profiles, sn.Ephemeral, sn.Architecture
	src := &migration.Source{Info: migration.Info{Config: cfg}, IDMap: idmapEntries(sn.filesIDMap(e.IDMap)), Only: backupEntries}
	s.sendVolume(e, src, sn.Name)
	return src, nil
}

// sendVolume gives src the trees and streams of instance e's volume: as
// it is (snap ""), or as its snapshot snap, which then stands for the
// volume.
func (s *Service) sendVolume(e Expanded, src *migration.Source, snap string) {
	key := e.key()
	rt := s.runtimeOf(e.Type)
	if pool, vol, err := s.poolOf(e); err == nil {
		if st, ok := pool.(storage.Streamer); ok {
			// A picture of the volume as the stream starts: consistent
			// without a freeze.
			src.Driver = pool.Name()
			src.Stream = func(ctx context.Context, which, parent string, w io.Writer) error {
				defer s.pools.Hold()()
				if which == "" {
					crashpoint.Hit("migration.streaming")
					which = snap
				}
				_, err := st.WriteStream(ctx, vol, storage.StreamSpec{Snapshot: which, Parent: parent}, w)
				return err
			}
			src.StreamUUID = func(which string) (string, error) { return st.StreamID(vol, which) }
		}
	}
	src.Tree = func(ctx context.Context, which string, send func(dir string) error) error {
		defer s.pools.Hold()()
		pool, vol, err := s.poolOf(e)
		if err != nil {
			return err
		}
		if which == "" {
			which = snap
		}
		if which != "" {
			return pool.ViewSnapshot(ctx, vol, which, send)
		}
		crashpoint.Hit("migration.sending")
		if err := pool.MountVolume(vol); err != nil {
			return err
		}
		if st, _ := rt.Status(key); st == runtime.StateRunning {
			if err := rt.Freeze(ctx, key); err != nil {
				return fmt.Errorf("freeze %q for a consistent copy: %w", e.Name, err)
			}
			defer func() {
				if err := rt.Unfreeze(context.WithoutCancel(ctx), key); err != nil {
					s.log.Error("unfreeze after a copy", "instance", key, "err", err)
				}
			}()
		}
		return send(pool.VolumePath(vol))
	}
}

func sameMap(a, b *idmap.Map) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.HostUID == b.HostUID && a.HostGID == b.HostGID && a.Size == b.Size
}

// idmapEntries is m as the protocol's entries, a line of its uid or gid
// map each (raw.idmap entries among them); none: the instance's own ids.
func idmapEntries(m *idmap.Map) []migration.IDMapEntry {
	if m == nil {
		return nil
	}
	var out []migration.IDMapEntry
	for _, gid := range []bool{false, true} {
		for _, r := range m.Ranges(gid) {
			out = append(out, migration.IDMapEntry{IsUID: !gid, IsGID: gid, HostID: int32(r.Host), NsID: int32(r.Container), MapRange: int32(r.Size)})
		}
	}
	return out
}

// snapshotToWire describes a snapshot as the protocol does.
func snapshotToWire(sn SnapshotRecord) migration.Snapshot {
	w := migration.Snapshot{Name: sn.Name, LocalConfig: withoutIDMapKeys(sn.Config), Profiles: sn.Profiles,
		Ephemeral: sn.Ephemeral, Architecture: migration.ArchitectureID(sn.Architecture)}
	for name, d := range sn.Devices {
		w.LocalDevices = append(w.LocalDevices, migration.Device{Name: name, Config: d})
	}
	created := sn.CreatedAt.Unix()
	w.CreationDate = &created
	if !sn.ExpiresAt.IsZero() {
		exp := sn.ExpiresAt.Unix()
		w.ExpiryDate = &exp
	}
	return w
}
