package daemon

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/project"
)

// networkURL is a network's API path in project proj.
func networkURL(proj, name string) string { return project.URL(proj, "/1.0/networks/"+name) }

func networksGet(d *Daemon, r *http.Request) response {
	list, err := d.Networks.List(d.networksProject(r))
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
	proj := d.networksProject(r)
	if err := d.checkSharedNetworkChange(r); err != nil {
		return fail(err)
	}
	if err := d.checkProjectNetwork(proj, req.Name, req.Config, true); err != nil {
		return fail(err)
	}
	if err := d.Networks.Create(proj, req); err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("network-created", networkURL(proj, req.Name), nil)
	return syncResp{metadata: map[string]any{}, location: "/1.0/networks/" + req.Name, status: http.StatusCreated}
}

func networkGet(d *Daemon, r *http.Request) response {
	n, rev, err := d.Networks.Get(d.networksProject(r), r.PathValue("name"))
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
	rev, err := ifMatch(r)
	if err != nil {
		return fail(err)
	}
	if err := d.checkSharedNetworkChange(r); err != nil {
		return fail(err)
	}
	dropEmptyValues(put.Config)
	return d.updateNetwork(r, put, rev)
}

func networkPatch(d *Daemon, r *http.Request) response {
	name, proj := r.PathValue("name"), d.networksProject(r)
	if err := d.checkSharedNetworkChange(r); err != nil {
		return fail(err)
	}
	err := patchRecord(r, func() (api.NetworkPut, uint64, error) {
		cur, rev, err := d.Networks.Get(proj, name)
		return api.NetworkPut{Description: cur.Description, Config: cur.Config}, rev, err
	}, func(put *api.NetworkPut, patch map[string]json.RawMessage) error {
		return errors.Join(mergePatch(patch, "config", put.Config), replacePatch(patch, map[string]any{"description": &put.Description}))
	}, func(put api.NetworkPut, rev uint64) error {
		dropEmptyValues(put.Config)
		if err := d.checkProjectNetwork(proj, name, put.Config, false); err != nil {
			return err
		}
		return d.Networks.Update(proj, name, put, rev)
	})
	if err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("network-updated", networkURL(proj, name), nil)
	return empty()
}

func (d *Daemon) updateNetwork(r *http.Request, put api.NetworkPut, rev uint64) response {
	name, proj := r.PathValue("name"), d.networksProject(r)
	if err := d.checkProjectNetwork(proj, name, put.Config, false); err != nil {
		return fail(err)
	}
	if err := d.Networks.Update(proj, name, put, rev); err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("network-updated", networkURL(proj, name), nil)
	return empty()
}

func networkPost(d *Daemon, r *http.Request) response {
	var req struct {
		Name string `json:"name"`
	}
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if err := d.checkSharedNetworkChange(r); err != nil {
		return fail(err)
	}
	proj := d.networksProject(r)
	if err := d.Networks.Rename(proj, r.PathValue("name"), req.Name); err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("network-renamed", networkURL(proj, req.Name), map[string]any{"old_name": r.PathValue("name")})
	return syncResp{metadata: map[string]any{}, location: "/1.0/networks/" + req.Name, status: http.StatusCreated}
}

func networkDelete(d *Daemon, r *http.Request) response {
	if err := d.checkSharedNetworkChange(r); err != nil {
		return fail(err)
	}
	proj := d.networksProject(r)
	if err := d.Networks.Delete(proj, r.PathValue("name")); err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("network-deleted", networkURL(proj, r.PathValue("name")), nil)
	return empty()
}

func networkStateGet(d *Daemon, r *http.Request) response {
	st, err := d.Networks.State(d.networksProject(r), r.PathValue("name"))
	if err != nil {
		return fail(err)
	}
	return ok(st)
}

func networkLeasesGet(d *Daemon, r *http.Request) response {
	leases, err := d.Networks.Leases(d.networksProject(r), r.PathValue("name"))
	if err != nil {
		return fail(err)
	}
	return ok(leases)
}
