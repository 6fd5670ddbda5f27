package daemon

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/project"
)

// The network_acl extension: /1.0/network-acls. An ACL belongs to the
// project whose networks take it (the request's, with features.networks;
// the default project's otherwise).

func networkACLURL(proj, name string) string { return project.URL(proj, "/1.0/network-acls/"+name) }

func networkACLsGet(d *Daemon, r *http.Request) response {
	list, err := d.Networks.ACLs(d.networksProject(r))
	if err != nil {
		return fail(err)
	}
	if recursion(r) > 0 {
		return ok(list)
	}
	urls := make([]string, 0, len(list))
	for _, a := range list {
		urls = append(urls, "/1.0/network-acls/"+a.Name)
	}
	return ok(urls)
}

func networkACLsPost(d *Daemon, r *http.Request) response {
	var req api.NetworkACLsPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if err := d.checkSharedNetworkChange(r); err != nil {
		return fail(err)
	}
	proj := d.networksProject(r)
	if err := d.Networks.CreateACL(proj, req); err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("network-acl-created", networkACLURL(proj, req.Name), nil)
	return syncResp{metadata: map[string]any{}, location: "/1.0/network-acls/" + req.Name, status: http.StatusCreated}
}

func networkACLGet(d *Daemon, r *http.Request) response {
	a, rev, err := d.Networks.ACL(d.networksProject(r), r.PathValue("name"))
	if err != nil {
		return fail(err)
	}
	return okETag(a, rev)
}

// networkACLPut is PUT (the ACL replaced) and PATCH (config merged; the
// description and rule lists replaced when given).
func networkACLPut(d *Daemon, r *http.Request) response {
	proj, name := d.networksProject(r), r.PathValue("name")
	if err := d.checkSharedNetworkChange(r); err != nil {
		return fail(err)
	}
	err := putOrPatch(r, func() (api.NetworkACLPut, uint64, error) {
		a, rev, err := d.Networks.ACL(proj, name)
		if a.Config == nil {
			a.Config = map[string]string{}
		}
		return a.NetworkACLPut, rev, err
	}, func(put *api.NetworkACLPut, patch map[string]json.RawMessage) error {
		return errors.Join(mergePatch(patch, "config", put.Config),
			replacePatch(patch, map[string]any{"description": &put.Description, "ingress": &put.Ingress, "egress": &put.Egress}))
	}, func(put api.NetworkACLPut, rev uint64) error {
		dropEmptyValues(put.Config)
		return d.Networks.UpdateACL(proj, name, put, rev)
	})
	if err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("network-acl-updated", networkACLURL(proj, name), nil)
	return empty()
}

func networkACLPost(d *Daemon, r *http.Request) response {
	var req api.NetworkACLPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if err := d.checkSharedNetworkChange(r); err != nil {
		return fail(err)
	}
	proj, name := d.networksProject(r), r.PathValue("name")
	if err := d.Networks.RenameACL(proj, name, req.Name); err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("network-acl-renamed", networkACLURL(proj, req.Name), map[string]any{"old_name": name})
	return syncResp{metadata: map[string]any{}, location: "/1.0/network-acls/" + req.Name, status: http.StatusCreated}
}

func networkACLDelete(d *Daemon, r *http.Request) response {
	if err := d.checkSharedNetworkChange(r); err != nil {
		return fail(err)
	}
	proj, name := d.networksProject(r), r.PathValue("name")
	if err := d.Networks.DeleteACL(proj, name); err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("network-acl-deleted", networkACLURL(proj, name), nil)
	return empty()
}
