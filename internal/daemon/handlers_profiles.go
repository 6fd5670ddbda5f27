package daemon

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/project"
)

func profilesGet(d *Daemon, r *http.Request) response {
	ps, err := d.Instances.Profiles(d.profilesProject(r))
	if err != nil {
		return fail(err)
	}
	if recursion(r) > 0 {
		return ok(ps)
	}
	urls := []string{}
	for _, p := range ps {
		urls = append(urls, project.URL(d.profilesProject(r), "/1.0/profiles/"+p.Name))
	}
	return ok(urls)
}

func profilesPost(d *Daemon, r *http.Request) response {
	var req api.ProfilesPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if err := d.Instances.CreateProfile(d.profilesProject(r), req); err != nil {
		return fail(err)
	}
	return syncResp{metadata: map[string]any{}, location: "/1.0/profiles/" + req.Name, status: http.StatusCreated}
}

func profileGet(d *Daemon, r *http.Request) response {
	p, rev, err := d.Instances.Profile(profileKey(d, r))
	if err != nil {
		return fail(err)
	}
	return okETag(p, rev)
}

func profilePut(d *Daemon, r *http.Request) response {
	var put api.ProfilePut
	if err := decode(r, &put); err != nil {
		return fail(err)
	}
	rev, err := ifMatch(r)
	if err != nil {
		return fail(err)
	}
	if err := d.Instances.UpdateProfile(profileKey(d, r), put, rev); err != nil {
		return fail(err)
	}
	return empty()
}

func profilePatch(d *Daemon, r *http.Request) response {
	name := profileKey(d, r)
	err := patchRecord(r, func() (api.ProfilePut, uint64, error) {
		p, rev, err := d.Instances.Profile(name)
		return api.ProfilePut{Description: p.Description, Config: p.Config, Devices: p.Devices}, rev, err
	}, func(put *api.ProfilePut, patch map[string]json.RawMessage) error {
		return errors.Join(mergePatch(patch, "config", put.Config), mergePatch(patch, "devices", put.Devices),
			replacePatch(patch, map[string]any{"description": &put.Description}))
	}, func(put api.ProfilePut, rev uint64) error {
		return d.Instances.UpdateProfile(name, put, rev)
	})
	if err != nil {
		return fail(err)
	}
	return empty()
}

func profileDelete(d *Daemon, r *http.Request) response {
	if err := d.Instances.DeleteProfile(profileKey(d, r)); err != nil {
		return fail(err)
	}
	return empty()
}

func profilePost(d *Daemon, r *http.Request) response {
	var req struct {
		Name string `json:"name"`
	}
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if err := d.Instances.RenameProfile(profileKey(d, r), req.Name); err != nil {
		return fail(err)
	}
	return syncResp{metadata: map[string]any{}, location: "/1.0/profiles/" + req.Name, status: http.StatusCreated}
}

// profileKey is the store key of the profile a request names.
func profileKey(d *Daemon, r *http.Request) string {
	return project.StoreKey(d.profilesProject(r), r.PathValue("name"))
}
