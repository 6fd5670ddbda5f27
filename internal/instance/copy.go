package instance

import (
	"context"
	"sort"
	"strings"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/store"
	"github.com/lodge-project/lodge/internal/uuid"
)

// prepareCopy validates a copy (source.type=copy) and returns its work: the
// new instance takes the source's (or snapshot's) config unless the request
// brings its own, and the source's snapshots unless instance_only is set.
func (s *Service) prepareCopy(req api.InstancesPost, rec Record) (func(ctx context.Context) error, error) {
	srcName, srcSnap, fromSnap := strings.Cut(req.Source.Source, "/")
	if srcName == "" {
		return nil, apierr.BadRequest("copy: give the source instance (source.source)")
	}
	// The source may be in another project (lxc copy --target-project).
	srcProj := rec.Project
	if req.Source.Project != "" {
		srcProj = req.Source.Project
		if s.projects != nil && project.Name(srcProj) != project.Default {
			if _, err := s.projects.Config(srcProj); err != nil {
				return nil, apierr.NotFound("copy source project %q", srcProj)
			}
		}
	}
	srcKey := project.StoreKey(srcProj, srcName)
	src, _, err := s.load(srcKey)
	if err != nil {
		return nil, apierr.NotFound("copy source instance %q", srcName)
	}
	cfg, devices, profiles := src.Record.Config, src.Record.Devices, src.Profiles
	filesMap := src.IDMap
	var snaps []SnapshotRecord
	err = s.db.View(func(tx *store.Tx) error {
		if fromSnap {
			var snap SnapshotRecord
			if _, err := tx.Get(store.Snapshots, snapKey(srcKey, srcSnap), &snap); err != nil {
				return apierr.NotFound("copy source snapshot %q of %q", srcSnap, srcName)
			}
			cfg, devices, profiles = snap.Config, snap.Devices, snap.Profiles
			filesMap = snap.filesIDMap(src.IDMap)
		} else if !req.Source.InstanceOnly {
			for _, k := range snapshotKeys(tx, srcKey) {
				var snap SnapshotRecord
				if _, err := tx.Get(store.Snapshots, k, &snap); err != nil {
					return err
				}
				snap.Instance = rec.key()
				snaps = append(snaps, snap)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if req.Config == nil && req.Devices == nil && req.Profiles == nil {
		rec.Config, rec.Devices, rec.Profiles = map[string]string{}, devices, profiles
		for k, v := range cfg {
			rec.Config[k] = v
		}
	}
	// Per-instance state starts fresh; the base image and id map stay.
	for k := range rec.Config {
		if strings.HasPrefix(k, "volatile.") && k != "volatile.base_image" && k != "volatile.idmap.base" {
			delete(rec.Config, k)
		}
	}
	if rec.Config == nil {
		rec.Config = map[string]string{}
	}
	rec.Config[applyTemplateKey] = "copy"
	rec.Config[cloudInitIDKey] = uuid.New()
	// The record names the map the copied files are on; the first start
	// shifts them if the copy wants another (an isolated range of its own).
	rec.Architecture, rec.IDMap = src.Architecture, filesMap
	var dst Expanded
	err = s.db.View(func(tx *store.Tx) error {
		ps, err := s.profiles(tx, rec.Project, rec.Profiles)
		dst = expand(rec, ps)
		return err
	})
	if err != nil {
		return nil, err
	}
	// Snapshots oldest first: a copy between pools makes them in order.
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].CreatedAt.Before(snaps[j].CreatedAt) })
	return func(ctx context.Context) error {
		defer s.pools.Hold()()
		pool, from, err := s.poolOf(src)
		if err != nil {
			return err
		}
		if rootPool(src.Devices) == rootPool(dst.Devices) {
			return s.createWith(rec, snaps, pool, volumeOf(dst), func() error {
				return pool.CopyVolume(ctx, from, srcSnap, volumeOf(dst), !fromSnap && !req.Source.InstanceOnly)
			})
		}
		// Another pool: tree by tree (package storage), the snapshots
		// with their records' devices on the copy's pool.
		to, err := s.pools.Get(rootPool(dst.Devices))
		if err != nil {
			return err
		}
		var names []string
		for i, sn := range snaps {
			names = append(names, sn.Name)
			snaps[i].Devices = onRootPool(sn.Devices, rec.Devices)
		}
		return s.createWith(rec, snaps, to, volumeOf(dst), func() error {
			return storage.CopyAcross(ctx, pool, from, srcSnap, names, to, volumeOf(dst))
		})
	}, nil
}
