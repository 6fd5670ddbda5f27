package daemon

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sort"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/instance/keys"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/projects"
)

// projectUsedBy lists what project proj holds, as API paths: its
// instances, its own profiles, images, networks (with their ACLs and
// zones) and custom volumes (those of the features it has).
func (d *Daemon) projectUsedBy(proj string, withDefaultProfile bool) ([]string, error) {
	out, err := d.Instances.ProjectInstances(proj)
	if err != nil {
		return nil, err
	}
	for _, k := range d.Instances.ProjectProfiles(proj) {
		p, name := project.SplitKey(k)
		if name == "default" && !withDefaultProfile {
			continue
		}
		out = append(out, project.URL(p, "/1.0/profiles/"+name))
	}
	if proj == project.Default || d.Projects.Exists(proj) {
		if eff, _ := d.Projects.Effective(proj, "features.images"); eff == proj {
			imgs, err := d.Images.List(proj)
			if err != nil {
				return nil, err
			}
			for _, i := range imgs {
				out = append(out, project.URL(proj, "/1.0/images/"+i.Fingerprint))
			}
		}
		if eff, _ := d.Projects.Effective(proj, "features.networks"); eff == proj && proj != project.Default {
			nets, err := d.Networks.InProject(proj)
			if err != nil {
				return nil, err
			}
			for _, n := range nets {
				out = append(out, networkURL(proj, n))
			}
			acls, err := d.Networks.ACLs(proj)
			if err != nil {
				return nil, err
			}
			for _, a := range acls {
				out = append(out, networkACLURL(proj, a.Name))
			}
			zones, err := d.Zones.Zones(proj)
			if err != nil {
				return nil, err
			}
			for _, z := range zones {
				out = append(out, networkZoneURL(proj, z.Name))
			}
		}
		if eff, _ := d.Projects.Effective(proj, "features.storage.volumes"); eff == proj {
			pools, err := d.Pools.Names()
			if err != nil {
				return nil, err
			}
			for _, pool := range pools {
				vols, err := d.Pools.CustomVolumes(pool)
				if err != nil {
					return nil, err
				}
				for _, v := range vols {
					if project.Name(v.Project) == proj {
						out = append(out, project.URL(proj, "/1.0/storage-pools/"+pool+"/volumes/custom/"+v.Name))
					}
				}
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// unchecked undoes a project's own step (its creation, its rename) when
// the next one failed: what it holds is known, nothing to ask.
var unchecked = projects.Checks{UsedBy: func(string) ([]string, error) { return nil, nil }}

// projectChecks are what a project's change asks of the rest.
func (d *Daemon) projectChecks() projects.Checks {
	return projects.Checks{
		UsedBy: func(p string) ([]string, error) { return d.projectUsedBy(p, false) },
		FitLimits: func(p string, cfg map[string]string) error {
			return errors.Join(d.Instances.FitLimits(p, cfg), d.fitNetworkLimit(p, cfg, 0))
		},
	}
}

func (d *Daemon) renderProject(rec projects.Record) (api.Project, error) {
	p := rec.API()
	used, err := d.projectUsedBy(rec.Name, true)
	if err != nil {
		return p, err
	}
	p.UsedBy = used
	return p, nil
}

func projectsGet(d *Daemon, r *http.Request) response {
	recs, err := d.Projects.List()
	if err != nil {
		return fail(err)
	}
	if only := restrictedTo(r); only != nil {
		kept := recs[:0]
		for _, p := range recs {
			if slices.Contains(only, p.Name) {
				kept = append(kept, p)
			}
		}
		recs = kept
	}
	if recursion(r) == 0 {
		urls := make([]string, 0, len(recs))
		for _, p := range recs {
			urls = append(urls, "/1.0/projects/"+p.Name)
		}
		return ok(urls)
	}
	out := make([]api.Project, 0, len(recs))
	for _, rec := range recs {
		p, err := d.renderProject(rec)
		if err != nil {
			return fail(err)
		}
		out = append(out, p)
	}
	return ok(out)
}

// projectsPost creates a project, and its default profile when it has
// profiles of its own; a failure leaves neither.
func projectsPost(d *Daemon, r *http.Request) response {
	var req api.ProjectsPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	rec, err := d.Projects.Create(req)
	if err != nil {
		return fail(err)
	}
	if keys.IsTrue(rec.Config, "features.profiles") {
		if err := d.Instances.CreateProjectProfile(rec.Name); err != nil {
			// The project goes again: it holds nothing yet.
			return fail(errors.Join(err, d.Projects.Delete(rec.Name, unchecked)))
		}
	}
	d.Bus.Lifecycle("project-created", "/1.0/projects/"+rec.Name, nil)
	return syncResp{metadata: map[string]any{}, location: "/1.0/projects/" + rec.Name, status: http.StatusCreated}
}

func projectGet(d *Daemon, r *http.Request) response {
	rec, rev, err := d.Projects.Get(r.PathValue("name"))
	if err != nil {
		return fail(err)
	}
	p, err := d.renderProject(rec)
	if err != nil {
		return fail(err)
	}
	return okETag(p, rev)
}

func projectPut(d *Daemon, r *http.Request) response {
	var put api.ProjectPut
	if err := decode(r, &put); err != nil {
		return fail(err)
	}
	rev, err := ifMatch(r)
	if err != nil {
		return fail(err)
	}
	return d.changeProject(r.PathValue("name"), put, rev)
}

// projectPatch merges config keys into the project's, as LXD's PATCH.
func projectPatch(d *Daemon, r *http.Request) response {
	name := r.PathValue("name")
	err := patchRecord(r, func() (api.ProjectPut, uint64, error) {
		rec, rev, err := d.Projects.Get(name)
		p := rec.API()
		return p.ProjectPut, rev, err
	}, func(put *api.ProjectPut, patch map[string]json.RawMessage) error {
		return errors.Join(mergePatch(patch, "config", put.Config), replacePatch(patch, map[string]any{"description": &put.Description}))
	}, func(put api.ProjectPut, rev uint64) error {
		return d.Projects.Update(name, put, rev, d.projectChecks())
	})
	if err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("project-updated", "/1.0/projects/"+name, nil)
	return empty()
}

func (d *Daemon) changeProject(name string, put api.ProjectPut, rev uint64) response {
	if err := d.Projects.Update(name, put, rev, d.projectChecks()); err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("project-updated", "/1.0/projects/"+name, nil)
	return empty()
}

// projectPost renames an empty project, its profiles with it.
func projectPost(d *Daemon, r *http.Request) response {
	var req api.ProjectPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	name := r.PathValue("name")
	if err := d.Projects.Rename(name, req.Name, d.projectChecks()); err != nil {
		return fail(err)
	}
	if err := d.Instances.MoveProjectProfiles(name, req.Name); err != nil {
		_ = d.Projects.Rename(req.Name, name, unchecked)
		return fail(err)
	}
	d.Bus.Lifecycle("project-renamed", "/1.0/projects/"+req.Name, map[string]any{"old_name": name})
	return syncResp{metadata: map[string]any{}, location: "/1.0/projects/" + req.Name, status: http.StatusCreated}
}

// projectDelete deletes an empty project (its default profile goes too).
func projectDelete(d *Daemon, r *http.Request) response {
	name := r.PathValue("name")
	if name == project.Default {
		return fail(apierr.BadRequest("the default project cannot be deleted"))
	}
	if used, err := d.projectUsedBy(name, false); err != nil {
		return fail(err)
	} else if len(used) > 0 {
		return fail(apierr.BadRequest("only empty projects can be deleted: project %q holds %v", name, used))
	}
	restore, err := d.Instances.DeleteProjectProfiles(name)
	if err != nil {
		return fail(err)
	}
	if err := d.Projects.Delete(name, d.projectChecks()); err != nil {
		// The project stays: so do its profiles.
		return fail(errors.Join(err, restore()))
	}
	d.Bus.Lifecycle("project-deleted", "/1.0/projects/"+name, nil)
	return empty()
}

// projectStateGet is each limited resource's limit (-1: none) and use.
func projectStateGet(d *Daemon, r *http.Request) response {
	name := r.PathValue("name")
	rec, _, err := d.Projects.Get(name)
	if err != nil {
		return fail(err)
	}
	use, err := d.Instances.ProjectUsage(name)
	if err != nil {
		return fail(err)
	}
	nets, err := d.Networks.InProject(name)
	if err != nil {
		return fail(err)
	}
	use["networks"] = int64(len(nets))
	st := api.ProjectState{Resources: map[string]api.ProjectStateResource{}}
	for res, n := range use {
		limit := int64(-1)
		if v := rec.Config["limits."+res]; v != "" {
			if l, err := projects.LimitValue("limits."+res, v); err == nil {
				limit = l
			}
		}
		st.Resources[res] = api.ProjectStateResource{Limit: limit, Usage: n}
	}
	return ok(st)
}
