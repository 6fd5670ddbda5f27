package instance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/backup"
	"github.com/lodge-project/lodge/internal/crashpoint"
	"github.com/lodge-project/lodge/internal/storage"
)

// A backup of files walks the volume and each snapshot into LXD's layout.
// It also leaves a manifest of the volume on the host, for the next
// export to write, when asked (since), only what changed (package backup:
// increments.go).

// manifestFile is where the instance's last export's manifest is kept.
func (s *Service) manifestFile(key string) string {
	return filepath.Join(s.dir, "backups", "manifests", host(key)+".json")
}

// snapshotTreeID identifies a snapshot's tree across exports: a snapshot
// deleted and made again under its name is another tree.
func snapshotTreeID(sn SnapshotRecord) string { return sn.CreatedAt.UTC().Format(time.RFC3339Nano) }

// writeFiles writes the instance's trees to w and returns the manifest of
// what it saw of the volume. An incremental backup (since) leaves out the
// snapshots the earlier one holds and the volume's entries unchanged
// since it, and lists what was deleted.
func (s *Service) writeFiles(ctx context.Context, w *backup.Writer, e Expanded, pool storage.Driver, vol storage.Volume, snaps []SnapshotRecord, cfg *backup.Config, since *api.BackupSince) (*backup.Manifest, error) {
	var base *backup.Manifest
	held := map[string]string{}
	if since != nil {
		m, err := backup.LoadManifest(s.manifestFile(e.key()))
		if err != nil {
			return nil, err
		}
		if m == nil || m.ID != sinceBase(since) {
			return nil, apierr.BadRequest("%s is not the last export of %q (what the next one builds on): export it again whole, or since its latest export", since.File, e.Name)
		}
		base = m
		for _, t := range since.Streams {
			held[t.Snapshot] = t.UUID
		}
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	manifest := &backup.Manifest{ID: hex.EncodeToString(id), Entries: map[string]string{}}
	optimized := false
	idx := backup.Index{Name: e.Name, Backend: pool.Name(), Pool: rootPool(e.Devices), Optimized: &optimized,
		OptimizedHeader: &optimized, Type: string(typeContainer), Config: cfg, LodgeSince: since}
	var written []SnapshotRecord
	for _, sn := range snaps {
		idx.Snapshots = append(idx.Snapshots, sn.Name)
		if held[sn.Name] != snapshotTreeID(sn) {
			written = append(written, sn)
			idx.LodgeTrees = append(idx.LodgeTrees, api.BackupStream{Snapshot: sn.Name, UUID: snapshotTreeID(sn)})
		}
	}
	idx.LodgeTrees = append(idx.LodgeTrees, api.BackupStream{UUID: manifest.ID})
	if err := w.AddYAML("backup/index.yaml", idx); err != nil {
		return nil, err
	}
	for _, sn := range written {
		err := pool.ViewSnapshot(ctx, vol, sn.Name, func(d string) error {
			return w.AddTree(ctx, "backup/snapshots/"+sn.Name, d, backupEntries, sn.filesIDMap(e.IDMap))
		})
		if err != nil {
			return nil, fmt.Errorf("back up snapshot %q: %w", sn.Name, err)
		}
	}
	if err := w.AddYAML("backup/container/backup.yaml", cfg); err != nil {
		return nil, err
	}
	if err := pool.MountVolume(vol); err != nil {
		return nil, err
	}
	hook := func(rel string, st *unix.Stat_t) bool {
		sig := backup.Signature(st)
		manifest.Entries[rel] = sig
		return base == nil || base.Entries[rel] != sig
	}
	if err := w.AddTreeWith(ctx, "backup/container", pool.VolumePath(vol), backupEntries, e.IDMap, hook); err != nil {
		return nil, fmt.Errorf("back up %q: %w", e.Name, err)
	}
	if base != nil {
		if err := w.AddYAML(backup.DeletedMember, base.Deleted(manifest.Entries)); err != nil {
			return nil, err
		}
	}
	crashpoint.Hit("backup.written")
	return manifest, nil
}
