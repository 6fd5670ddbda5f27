package daemon

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/lodge-project/lodge/api"
)

func networksGet(d *Daemon, r *http.Request) response {
	list, err := d.Networks.List()
	if err != nil {
		return fail(err)
	}
	if recursion(r) > 0 {
		return ok(list)
	}
	urls := make([]string, 0, len(list))
	for _, n := range list {
		urls = append(urls, "/1.0/networks/"+n.Name)
	}
	return ok(urls)
}

func networksPost(d *Daemon, r *http.Request) response {
	var req api.NetworksPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if err := d.Networks.Create(req); err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("network-created", "/1.0/networks/"+req.Name, nil)
	return syncResp{metadata: map[string]any{}, location: "/1.0/networks/" + req.Name, status: http.StatusCreated}
}

func networkGet(d *Daemon, r *http.Request) response {
	n, rev, err := d.Networks.Get(r.PathValue("name"))
	if err != nil {
		return fail(err)
	}
	return okETag(n, rev)
}

func networkPut(d *Daemon, r *http.Request) response {
	var put api.NetworkPut
	if err := decode(r, &put); err != nil {
		return fail(err)
	}
	return updateNetwork(d, r, put)
}

func networkPatch(d *Daemon, r *http.Request) response {
	name := r.PathValue("name")
	err := patchRecord(r, func() (api.NetworkPut, uint64, error) {
		cur, rev, err := d.Networks.Get(name)
		return api.NetworkPut{Description: cur.Description, Config: cur.Config}, rev, err
	}, func(put *api.NetworkPut, patch map[string]json.RawMessage) error {
		return errors.Join(mergePatch(patch, "config", put.Config), replacePatch(patch, map[string]any{"description": &put.Description}))
	}, func(put api.NetworkPut, rev uint64) error {
		dropEmptyValues(put.Config)
		return d.Networks.Update(name, put, rev)
	})
	if err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("network-updated", "/1.0/networks/"+name, nil)
	return empty()
}

func updateNetwork(d *Daemon, r *http.Request, put api.NetworkPut) response {
	rev, err := ifMatch(r)
	if err != nil {
		return fail(err)
	}
	dropEmptyValues(put.Config)
	if err := d.Networks.Update(r.PathValue("name"), put, rev); err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("network-updated", "/1.0/networks/"+r.PathValue("name"), nil)
	return empty()
}

func networkPost(d *Daemon, r *http.Request) response {
	var req struct {
		Name string `json:"name"`
	}
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if err := d.Networks.Rename(r.PathValue("name"), req.Name); err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("network-renamed", "/1.0/networks/"+req.Name, map[string]any{"old_name": r.PathValue("name")})
	return syncResp{metadata: map[string]any{}, location: "/1.0/networks/" + req.Name, status: http.StatusCreated}
}

func networkDelete(d *Daemon, r *http.Request) response {
	if err := d.Networks.Delete(r.PathValue("name")); err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("network-deleted", "/1.0/networks/"+r.PathValue("name"), nil)
	return empty()
}

func networkStateGet(d *Daemon, r *http.Request) response {
	st, err := d.Networks.State(r.PathValue("name"))
	if err != nil {
		return fail(err)
	}
	return ok(st)
}

func networkLeasesGet(d *Daemon, r *http.Request) response {
	leases, err := d.Networks.Leases(r.PathValue("name"))
	if err != nil {
		return fail(err)
	}
	return ok(leases)
}
