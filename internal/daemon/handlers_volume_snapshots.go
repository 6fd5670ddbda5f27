package daemon

import (
	"context"
	"net/http"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/operation"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/storage"
)

// Custom volume snapshots (storage_api_volume_snapshots): records and
// data of the pool layer (storage.Pools).

func volumeSnapshotURL(pool, name, snap string) string {
	return volumeURL(pool, string(storage.TypeCustom), name) + "/snapshots/" + snap
}

func volumeSnapshotOf(r storage.VolumeSnapshotRecord) api.StorageVolumeSnapshot {
	var expires *time.Time
	if !r.ExpiresAt.IsZero() {
		expires = &r.ExpiresAt
	}
	cfg := r.Config
	if cfg == nil {
		cfg = map[string]string{}
	}
	return api.StorageVolumeSnapshot{Name: r.Name, Config: cfg, ContentType: string(storage.ContentFilesystem), CreatedAt: r.CreatedAt,
		StorageVolumeSnapshotPut: api.StorageVolumeSnapshotPut{Description: r.Description, ExpiresAt: expires}}
}

func volumeSnapshotsGet(d *Daemon, r *http.Request) response {
	pool, typ, name := r.PathValue("pool"), r.PathValue("type"), r.PathValue("name")
	if err := customOnly(typ); err != nil {
		return fail(err)
	}
	snaps, err := d.Pools.CustomVolumeSnapshots(pool, d.volumesProject(r), name)
	if err != nil {
		return fail(err)
	}
	if recursion(r) > 0 {
		out := []api.StorageVolumeSnapshot{}
		for _, s := range snaps {
			out = append(out, volumeSnapshotOf(s))
		}
		return ok(out)
	}
	urls := []string{}
	for _, s := range snaps {
		urls = append(urls, volumeSnapshotURL(pool, name, s.Name))
	}
	return ok(urls)
}

func volumeSnapshotsPost(d *Daemon, r *http.Request) response {
	pool, typ, name := r.PathValue("pool"), r.PathValue("type"), r.PathValue("name")
	if err := customOnly(typ); err != nil {
		return fail(err)
	}
	var req api.StorageVolumeSnapshotsPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if _, _, err := d.Pools.CustomVolume(pool, d.volumesProject(r), name); err != nil {
		return fail(err)
	}
	op := d.Ops.Start("Snapshotting storage volume", map[string][]string{"storage_volumes": {project.URL(d.volumesProject(r), volumeURL(pool, typ, name))}}, nil,
		func(ctx context.Context, _ *operation.Op) error {
			snap, err := d.Pools.CreateCustomVolumeSnapshot(ctx, pool, d.volumesProject(r), name, req.Name, req.ExpiresAt)
			if err == nil {
				d.Bus.Lifecycle("storage-volume-snapshot-created", volumeSnapshotURL(pool, name, snap), nil)
			}
			return err
		})
	return asyncResp{op}
}

func volumeSnapshotGet(d *Daemon, r *http.Request) response {
	s, rev, err := d.Pools.CustomVolumeSnapshot(r.PathValue("pool"), d.volumesProject(r), r.PathValue("name"), r.PathValue("snap"))
	if err != nil {
		return fail(err)
	}
	return okETag(volumeSnapshotOf(s), rev)
}

func volumeSnapshotPut(d *Daemon, r *http.Request) response {
	pool, name, snap := r.PathValue("pool"), r.PathValue("name"), r.PathValue("snap")
	var put api.StorageVolumeSnapshotPut
	if err := decode(r, &put); err != nil {
		return fail(err)
	}
	rev, err := ifMatch(r)
	if err != nil {
		return fail(err)
	}
	var expires time.Time
	if put.ExpiresAt != nil {
		expires = *put.ExpiresAt
	}
	if err := d.Pools.UpdateCustomVolumeSnapshot(pool, d.volumesProject(r), name, snap, put.Description, expires, rev); err != nil {
		return fail(err)
	}
	return empty()
}

func volumeSnapshotPost(d *Daemon, r *http.Request) response {
	pool, name, snap := r.PathValue("pool"), r.PathValue("name"), r.PathValue("snap")
	var req api.StorageVolumeSnapshotPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if _, _, err := d.Pools.CustomVolumeSnapshot(pool, d.volumesProject(r), name, snap); err != nil {
		return fail(err)
	}
	op := d.Ops.Start("Renaming storage volume snapshot", map[string][]string{"storage_volumes": {volumeURL(pool, string(storage.TypeCustom), name)}}, nil,
		func(context.Context, *operation.Op) error {
			return d.Pools.RenameCustomVolumeSnapshot(pool, d.volumesProject(r), name, snap, req.Name)
		})
	return asyncResp{op}
}

func volumeSnapshotDelete(d *Daemon, r *http.Request) response {
	pool, name, snap := r.PathValue("pool"), r.PathValue("name"), r.PathValue("snap")
	if _, _, err := d.Pools.CustomVolumeSnapshot(pool, d.volumesProject(r), name, snap); err != nil {
		return fail(err)
	}
	op := d.Ops.Start("Deleting storage volume snapshot", map[string][]string{"storage_volumes": {volumeURL(pool, string(storage.TypeCustom), name)}}, nil,
		func(context.Context, *operation.Op) error {
			err := d.Pools.DeleteCustomVolumeSnapshot(pool, d.volumesProject(r), name, snap)
			if err == nil {
				d.Bus.Lifecycle("storage-volume-snapshot-deleted", volumeSnapshotURL(pool, name, snap), nil)
			}
			return err
		})
	return asyncResp{op}
}
