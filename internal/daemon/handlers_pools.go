package daemon

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/storage"
)

// Storage pools are records (package storage); what uses them is the
// instance service's to say.

func poolsGet(d *Daemon, r *http.Request) response {
	names, err := d.Pools.Names()
	if err != nil {
		return fail(err)
	}
	if recursion(r) == 0 {
		urls := []string{}
		for _, n := range names {
			urls = append(urls, "/1.0/storage-pools/"+n)
		}
		return ok(urls)
	}
	out := []api.StoragePool{}
	for _, n := range names {
		p, _, err := poolOf(d, n)
		if err != nil {
			return fail(err)
		}
		out = append(out, p)
	}
	return ok(out)
}

// poolOf is pool name in its wire form.
func poolOf(d *Daemon, name string) (api.StoragePool, uint64, error) {
	rec, rev, err := d.Pools.Record(name)
	if err != nil {
		return api.StoragePool{}, 0, err
	}
	used, err := d.Instances.PoolUsers(name)
	if err != nil {
		return api.StoragePool{}, 0, err
	}
	cfg := map[string]string{}
	for k, v := range rec.Config {
		cfg[k] = v
	}
	cfg["source"] = d.Pools.Source(rec)
	return api.StoragePool{Name: rec.Name, Driver: rec.Driver, Description: rec.Description, Config: cfg,
		UsedBy: used, Status: "Created", Locations: []string{"none"}}, rev, nil
}

func poolsPost(d *Daemon, r *http.Request) response {
	var req api.StoragePoolsPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	dropEmptyValues(req.Config)
	rec := storage.PoolRecord{Name: req.Name, Driver: req.Driver, Description: req.Description, Config: req.Config}
	if err := d.Pools.Create(r.Context(), rec); err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("storage-pool-created", "/1.0/storage-pools/"+req.Name, nil)
	return syncResp{metadata: map[string]any{}, location: "/1.0/storage-pools/" + req.Name, status: http.StatusCreated}
}

func poolGet(d *Daemon, r *http.Request) response {
	p, rev, err := poolOf(d, r.PathValue("name"))
	if err != nil {
		return fail(err)
	}
	return okETag(p, rev)
}

func poolPut(d *Daemon, r *http.Request) response {
	var put api.StoragePoolPut
	if err := decode(r, &put); err != nil {
		return fail(err)
	}
	rev, err := ifMatch(r)
	if err != nil {
		return fail(err)
	}
	dropEmptyValues(put.Config)
	return poolUpdated(d, r.PathValue("name"), d.Pools.Update(r.PathValue("name"), put.Description, put.Config, rev))
}

func poolPatch(d *Daemon, r *http.Request) response {
	name := r.PathValue("name")
	err := patchRecord(r, func() (api.StoragePoolPut, uint64, error) {
		rec, rev, err := d.Pools.Record(name)
		return api.StoragePoolPut{Description: rec.Description, Config: rec.Config}, rev, err
	}, func(put *api.StoragePoolPut, patch map[string]json.RawMessage) error {
		return errors.Join(mergePatch(patch, "config", put.Config), replacePatch(patch, map[string]any{"description": &put.Description}))
	}, func(put api.StoragePoolPut, rev uint64) error {
		dropEmptyValues(put.Config)
		return d.Pools.Update(name, put.Description, put.Config, rev)
	})
	return poolUpdated(d, name, err)
}

func poolUpdated(d *Daemon, name string, err error) response {
	if err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("storage-pool-updated", "/1.0/storage-pools/"+name, nil)
	return empty()
}

func poolDelete(d *Daemon, r *http.Request) response {
	name := r.PathValue("name")
	if err := d.Instances.DeletePool(name); err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("storage-pool-deleted", "/1.0/storage-pools/"+name, nil)
	return empty()
}

// poolResources is what lxc storage info shows: the pool's filesystem use.
func poolResources(d *Daemon, r *http.Request) response {
	u, err := d.Pools.Usage(r.PathValue("name"))
	if err != nil {
		return fail(err)
	}
	return ok(api.StoragePoolResources{Space: api.StoragePoolSpace{Used: u.Used, Total: u.Total},
		Inodes: api.StoragePoolInodes{Used: u.InodesUsed, Total: u.Inodes}})
}
