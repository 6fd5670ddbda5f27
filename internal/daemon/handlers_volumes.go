package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/operation"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/storage"
)

// A pool's volumes: its custom volumes (records of the pool layer) and
// the volumes of its instances (the instance records stand for those).
// Only custom volumes are made, changed and deleted here.

func volumeURL(pool, typ, name string) string {
	return "/1.0/storage-pools/" + pool + "/volumes/" + typ + "/" + name
}

func volumesGet(d *Daemon, r *http.Request) response {
	pool, typ := r.PathValue("pool"), r.PathValue("type")
	if _, _, err := d.Pools.Record(pool); err != nil {
		return fail(err)
	}
	vols, err := poolVolumes(d, pool, d.volumesProject(r))
	if err != nil {
		return fail(err)
	}
	shown := []api.StorageVolume{}
	urls := []string{}
	for _, v := range vols {
		if typ == "" || v.Type == typ {
			shown = append(shown, v)
			urls = append(urls, volumeURL(pool, v.Type, v.Name))
		}
	}
	if recursion(r) > 0 {
		return ok(shown)
	}
	return ok(urls)
}

// poolVolumes lists a pool's volumes of project proj in their wire form.
func poolVolumes(d *Daemon, pool, proj string) ([]api.StorageVolume, error) {
	custom, err := d.Pools.CustomVolumes(pool)
	if err != nil {
		return nil, err
	}
	var out []api.StorageVolume
	for _, c := range custom {
		if project.Name(c.Project) != project.Name(proj) {
			continue
		}
		v, err := customVolumeOf(d, c)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	instances, err := d.Instances.RootVolumes(pool)
	if err != nil {
		return nil, err
	}
	for _, key := range instances {
		if !project.InProject(key, proj) {
			continue
		}
		proj, name := project.SplitKey(key)
		out = append(out, api.StorageVolume{Name: name, Type: string(storage.TypeContainer), ContentType: string(storage.ContentFilesystem),
			UsedBy: []string{project.URL(proj, instanceURL(name))}, Location: "none", Project: proj, StorageVolumePut: api.StorageVolumePut{Config: map[string]string{}}})
	}
	return out, nil
}

func customVolumeOf(d *Daemon, c storage.VolumeRecord) (api.StorageVolume, error) {
	used, err := d.Instances.VolumeUsers(c.Project, c.Pool, c.Name)
	if err != nil {
		return api.StorageVolume{}, err
	}
	return api.StorageVolume{Name: c.Name, Type: string(storage.TypeCustom), ContentType: string(c.ContentType), UsedBy: used,
		Location: "none", Project: project.Name(c.Project), CreatedAt: c.CreatedAt,
		StorageVolumePut: api.StorageVolumePut{Config: c.Config, Description: c.Description}}, nil
}

// customOnly refuses a write to a volume type other than custom.
func customOnly(typ string) error {
	if typ != string(storage.TypeCustom) {
		return apierr.BadRequest("only custom volumes are made, changed or deleted here; %q volumes follow their instances and images", typ)
	}
	return nil
}

func volumesPost(d *Daemon, r *http.Request) response {
	pool := r.PathValue("pool")
	if r.Header.Get("Content-Type") == "application/octet-stream" {
		return volumesImport(d, r, pool)
	}
	var req api.StorageVolumesPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if t := r.PathValue("type"); t != "" {
		req.Type = t
	}
	if req.Type == "" {
		req.Type = string(storage.TypeCustom)
	}
	if err := customOnly(req.Type); err != nil {
		return fail(err)
	}
	dropEmptyValues(req.Config)
	switch req.Source.Type {
	case "copy":
		// lxc storage volume copy: within a pool or from another.
		from := req.Source.Pool
		if from == "" {
			from = pool
		}
		// The source may be in another project (storage_api_project).
		srcProj := d.volumesProject(r)
		if req.Source.Project != "" {
			if err := mayReach(r, req.Source.Project); err != nil {
				return fail(err)
			}
			var err error
			if srcProj, err = d.volumesProjectOf(req.Source.Project); err != nil {
				return fail(err)
			}
		}
		if _, _, err := d.Pools.CustomVolume(from, srcProj, req.Source.Name); err != nil {
			return fail(err)
		}
		copyReq := storage.VolumeCopy{SrcPool: from, SrcProject: srcProj, SrcName: req.Source.Name,
			DstPool: pool, DstProject: d.volumesProject(r), DstName: req.Name, Description: req.Description, Config: req.Config, VolumeOnly: req.Source.VolumeOnly}
		if _, _, err := d.Pools.CustomVolume(pool, d.volumesProject(r), req.Name); err == nil && req.Source.Refresh {
			// lxc storage volume copy --refresh onto a volume this host has.
			if err := d.Instances.VolumeIdle(d.volumesProject(r), pool, req.Name); err != nil {
				return fail(err)
			}
			op := d.Ops.Start("Refreshing storage volume", map[string][]string{"storage_volumes": {project.URL(d.volumesProject(r), volumeURL(pool, req.Type, req.Name))}}, nil,
				func(ctx context.Context, _ *operation.Op) error { return d.Pools.RefreshCustomVolume(ctx, copyReq) })
			return asyncResp{op}
		}
		op := d.Ops.Start("Copying storage volume", map[string][]string{"storage_volumes": {project.URL(d.volumesProject(r), volumeURL(pool, req.Type, req.Name))}}, nil,
			func(ctx context.Context, _ *operation.Op) error {
				err := d.Pools.CopyCustomVolume(ctx, copyReq)
				if err == nil {
					d.Bus.Lifecycle("storage-volume-created", volumeURL(pool, req.Type, req.Name), nil)
				}
				return err
			})
		return asyncResp{op}
	case "migration":
		return volumeFromMigration(d, r, pool, req)
	case "":
	default:
		return fail(apierr.BadRequest("volume %q: source type %q is not supported (copy, migration, or none for an empty volume)", req.Name, req.Source.Type))
	}
	rec := storage.VolumeRecord{Pool: pool, Project: d.volumesProject(r), Name: req.Name, Description: req.Description,
		Config: req.Config, ContentType: storage.ContentType(req.ContentType)}
	if err := d.Pools.CreateCustomVolume(rec); err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("storage-volume-created", volumeURL(pool, req.Type, req.Name), nil)
	return syncResp{metadata: map[string]any{}, location: volumeURL(pool, req.Type, req.Name), status: http.StatusCreated}
}

func volumeGet(d *Daemon, r *http.Request) response {
	pool, typ, name := r.PathValue("pool"), r.PathValue("type"), r.PathValue("name")
	if typ != string(storage.TypeCustom) {
		vols, err := poolVolumes(d, pool, d.volumesProject(r))
		if err != nil {
			return fail(err)
		}
		for _, v := range vols {
			if v.Type == typ && v.Name == name {
				return ok(v)
			}
		}
		return fail(apierr.NotFound("storage volume %s/%s on pool %q", typ, name, pool))
	}
	c, rev, err := d.Pools.CustomVolume(pool, d.volumesProject(r), name)
	if err != nil {
		return fail(err)
	}
	v, err := customVolumeOf(d, c)
	if err != nil {
		return fail(err)
	}
	return okETag(v, rev)
}

func volumePut(d *Daemon, r *http.Request) response {
	pool, typ, name := r.PathValue("pool"), r.PathValue("type"), r.PathValue("name")
	if err := customOnly(typ); err != nil {
		return fail(err)
	}
	var put api.StorageVolumePut
	if err := decode(r, &put); err != nil {
		return fail(err)
	}
	if put.Restore != "" {
		if err := d.Instances.RestoreCustomVolume(r.Context(), d.volumesProject(r), pool, name, put.Restore); err != nil {
			return fail(err)
		}
		return empty()
	}
	rev, err := ifMatch(r)
	if err != nil {
		return fail(err)
	}
	dropEmptyValues(put.Config)
	if err := d.Pools.UpdateCustomVolume(pool, d.volumesProject(r), name, put.Description, put.Config, rev); err != nil {
		return fail(err)
	}
	return empty()
}

func volumePatch(d *Daemon, r *http.Request) response {
	pool, typ, name := r.PathValue("pool"), r.PathValue("type"), r.PathValue("name")
	if err := customOnly(typ); err != nil {
		return fail(err)
	}
	err := patchRecord(r, func() (api.StorageVolumePut, uint64, error) {
		c, rev, err := d.Pools.CustomVolume(pool, d.volumesProject(r), name)
		return api.StorageVolumePut{Description: c.Description, Config: c.Config}, rev, err
	}, func(put *api.StorageVolumePut, patch map[string]json.RawMessage) error {
		return errors.Join(mergePatch(patch, "config", put.Config), replacePatch(patch, map[string]any{"description": &put.Description}))
	}, func(put api.StorageVolumePut, rev uint64) error {
		dropEmptyValues(put.Config)
		return d.Pools.UpdateCustomVolume(pool, d.volumesProject(r), name, put.Description, put.Config, rev)
	})
	if err != nil {
		return fail(err)
	}
	return empty()
}

func volumeDelete(d *Daemon, r *http.Request) response {
	pool, typ, name := r.PathValue("pool"), r.PathValue("type"), r.PathValue("name")
	if err := customOnly(typ); err != nil {
		return fail(err)
	}
	if err := d.Instances.DeleteCustomVolume(d.volumesProject(r), pool, name); err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("storage-volume-deleted", volumeURL(pool, typ, name), nil)
	return empty()
}

// volumePost renames a custom volume, or moves it to another pool.
func volumePost(d *Daemon, r *http.Request) response {
	pool, typ, name := r.PathValue("pool"), r.PathValue("type"), r.PathValue("name")
	if err := customOnly(typ); err != nil {
		return fail(err)
	}
	var req api.StorageVolumePost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if _, _, err := d.Pools.CustomVolume(pool, d.volumesProject(r), name); err != nil {
		return fail(err)
	}
	if req.Migration {
		return volumeMigrateSource(d, r, pool, name, req)
	}
	if req.Name == "" {
		req.Name = name
	}
	// To another project (storage_volume_project_move), on the same pool
	// or another.
	dstProj := d.volumesProject(r)
	if req.Project != "" {
		if err := mayReach(r, req.Project); err != nil {
			return fail(err)
		}
		var err error
		if dstProj, err = d.volumesProjectOf(req.Project); err != nil {
			return fail(err)
		}
	}
	if req.Pool == "" {
		req.Pool = pool
	}
	if req.Pool != pool || dstProj != d.volumesProject(r) {
		if !d.Pools.Exists(req.Pool) {
			return fail(apierr.BadRequest("storage pool %q does not exist", req.Pool))
		}
		op := d.Ops.Start("Moving storage volume", map[string][]string{"storage_volumes": {project.URL(d.volumesProject(r), volumeURL(pool, typ, name))}}, nil,
			func(ctx context.Context, _ *operation.Op) error {
				return d.Instances.MoveCustomVolume(ctx, d.volumesProject(r), pool, name, req.Pool, dstProj, req.Name)
			})
		return asyncResp{op}
	}
	if req.Name == name {
		return fail(apierr.BadRequest("storage volume %q: give a new name or another pool", name))
	}
	// A rename answers at once (lxc waits for no operation).
	if err := d.Instances.RenameCustomVolume(d.volumesProject(r), pool, name, req.Name); err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("storage-volume-renamed", volumeURL(pool, typ, req.Name), map[string]any{"old_name": name})
	return syncResp{metadata: map[string]any{}, location: volumeURL(pool, typ, req.Name), status: http.StatusCreated}
}

// volumeStateGet answers GET of a custom volume's state (lxc storage
// volume info): what it holds, where the pool's driver can tell (btrfs,
// dir with project quotas), and its size limit (-1: none).
func volumeStateGet(d *Daemon, r *http.Request) response {
	pool, typ, name := r.PathValue("pool"), r.PathValue("type"), r.PathValue("name")
	if err := customOnly(typ); err != nil {
		return fail(err)
	}
	used, total, known, err := d.Pools.CustomVolumeUsage(pool, d.volumesProject(r), name)
	if err != nil {
		return fail(err)
	}
	var state api.StorageVolumeState
	if known {
		state.Usage = &api.StorageVolumeStateUsage{Used: uint64(used), Total: total}
	}
	return ok(state)
}
