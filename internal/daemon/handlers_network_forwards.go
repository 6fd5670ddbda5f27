package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/instance/keys"
	"github.com/lodge-project/lodge/internal/project"
)

// The network_forward extension: /1.0/networks/<name>/forwards.

func networkForwardURL(proj, name, listen string) string {
	return project.URL(proj, "/1.0/networks/"+name+"/forwards/"+url.PathEscape(listen))
}

func networkForwardsGet(d *Daemon, r *http.Request) response {
	proj, name := d.networksProject(r), r.PathValue("name")
	list, _, err := d.Networks.Forwards(proj, name)
	if err != nil {
		return fail(err)
	}
	if recursion(r) > 0 {
		return ok(list)
	}
	urls := make([]string, 0, len(list))
	for _, f := range list {
		urls = append(urls, "/1.0/networks/"+name+"/forwards/"+url.PathEscape(f.ListenAddress))
	}
	return ok(urls)
}

func networkForwardsPost(d *Daemon, r *http.Request) response {
	var req api.NetworkForwardsPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	proj, name := d.networksProject(r), r.PathValue("name")
	if err := d.checkProjectForwards(r); err != nil {
		return fail(err)
	}
	listen, err := d.Networks.CreateForward(proj, name, req)
	if err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("network-forward-created", networkForwardURL(proj, name, listen), nil)
	return syncResp{metadata: map[string]any{}, location: "/1.0/networks/" + name + "/forwards/" + url.PathEscape(listen), status: http.StatusCreated}
}

func networkForwardGet(d *Daemon, r *http.Request) response {
	f, rev, err := d.Networks.Forward(d.networksProject(r), r.PathValue("name"), r.PathValue("listen"))
	if err != nil {
		return fail(err)
	}
	return okETag(f, rev)
}

// networkForwardPut is PUT (the forward replaced) and PATCH (config
// merged; description and ports replaced when given).
func networkForwardPut(d *Daemon, r *http.Request) response {
	proj, name, listen := d.networksProject(r), r.PathValue("name"), r.PathValue("listen")
	if err := d.checkProjectForwards(r); err != nil {
		return fail(err)
	}
	err := putOrPatch(r, func() (api.NetworkForwardPut, uint64, error) {
		f, rev, err := d.Networks.Forward(proj, name, listen)
		if f.Config == nil {
			f.Config = map[string]string{}
		}
		return f.NetworkForwardPut, rev, err
	}, func(put *api.NetworkForwardPut, patch map[string]json.RawMessage) error {
		return errors.Join(mergePatch(patch, "config", put.Config), replacePatch(patch, map[string]any{"description": &put.Description, "ports": &put.Ports}))
	}, func(put api.NetworkForwardPut, rev uint64) error {
		dropEmptyValues(put.Config)
		return d.Networks.UpdateForward(proj, name, listen, put, rev)
	})
	if err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("network-forward-updated", networkForwardURL(proj, name, listen), nil)
	return empty()
}

func networkForwardDelete(d *Daemon, r *http.Request) response {
	proj, name, listen := d.networksProject(r), r.PathValue("name"), r.PathValue("listen")
	if err := d.checkProjectForwards(r); err != nil {
		return fail(err)
	}
	if err := d.Networks.DeleteForward(proj, name, listen); err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("network-forward-deleted", networkForwardURL(proj, name, listen), nil)
	return empty()
}

// checkProjectForwards refuses forwards to a tenant, a restricted project
// or a client whose certificate is restricted to projects: a forward
// takes an address of the host (its SSH port, say), which is the host's
// to give, not a tenant's.
func (d *Daemon) checkProjectForwards(r *http.Request) error {
	if restrictedTo(r) != nil {
		return fmt.Errorf("this client's certificate is restricted to projects: network forwards take the host's addresses, which only an unrestricted client may do: %w", apierr.ErrForbidden)
	}
	proj := requestProject(r)
	if project.Name(proj) == project.Default || d.Projects == nil {
		return nil
	}
	pc, err := d.Projects.Config(proj)
	if err != nil {
		return err
	}
	if keys.IsTrue(pc, "restricted") {
		return fmt.Errorf("project %q is restricted: network forwards take the host's addresses, which only an unrestricted project may do: %w", proj, apierr.ErrForbidden)
	}
	return nil
}
