package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/filter"
	"github.com/lodge-project/lodge/internal/image"
	"github.com/lodge-project/lodge/internal/imageserver"
	"github.com/lodge-project/lodge/internal/operation"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/validate"
)

func instanceURL(name string) string { return "/1.0/instances/" + name }

// resources are an operation's resources for the instance whose store
// key is key, with ?project= outside the default project.
func resources(key string) map[string][]string {
	proj, name := project.SplitKey(key)
	return map[string][]string{"instances": {project.URL(proj, instanceURL(name))}, "containers": {project.URL(proj, "/1.0/containers/"+name)}}
}

func instancesGet(d *Daemon, r *http.Request) response {
	f, err := filter.Parse(r.URL.Query().Get("filter"))
	if err != nil {
		return fail(apierr.BadRequest("%v", err))
	}
	filtered := r.URL.Query().Get("filter") != ""
	// One project's instances (?project=, else the default one's), or
	// every project's with ?all-projects=true.
	proj, allProjects := requestProject(r), r.URL.Query().Get("all-projects") == "true"
	if recursion(r) == 0 && !filtered {
		keys, err := d.Instances.Names()
		if err != nil {
			return fail(err)
		}
		urls := make([]string, 0, len(keys))
		for _, k := range keys {
			if p, name := project.SplitKey(k); allProjects || p == proj {
				urls = append(urls, project.URL(p, instanceURL(name)))
			}
		}
		return ok(urls)
	}
	all, err := d.Instances.List()
	if err != nil {
		return fail(err)
	}
	list := all[:0]
	for _, inst := range all {
		if (allProjects || project.Name(inst.Project) == proj) && f.Match(inst) {
			list = append(list, inst)
		}
	}
	switch recursion(r) {
	case 0:
		urls := make([]string, 0, len(list))
		for _, inst := range list {
			urls = append(urls, project.URL(inst.Project, instanceURL(inst.Name)))
		}
		return ok(urls)
	case 1:
		return ok(list)
	}
	full := make([]api.InstanceFull, 0, len(list))
	for _, inst := range list {
		if f, err := instanceFull(d, inst); err == nil {
			full = append(full, f)
		}
	}
	return ok(full)
}

// instanceFull is an instance with its state, snapshots and backups, as
// recursion lists it and as lxc info asks for it
// (instance_get_full).
func instanceFull(d *Daemon, inst api.Instance) (api.InstanceFull, error) {
	key := project.StoreKey(inst.Project, inst.Name)
	st, err := d.Instances.State(key)
	if err != nil {
		return api.InstanceFull{}, err
	}
	snaps := []any{}
	if list, err := d.Instances.Snapshots(key); err == nil {
		for _, s := range list {
			snaps = append(snaps, s)
		}
	}
	backups := []any{}
	if list, err := d.Instances.Backups(key); err == nil {
		for _, b := range list {
			backups = append(backups, b)
		}
	}
	return api.InstanceFull{Instance: inst, State: &st, Snapshots: snaps, Backups: backups}, nil
}

func instancesPost(d *Daemon, r *http.Request) response {
	if err := d.checkTarget(r); err != nil {
		return fail(err)
	}
	if r.Header.Get("Content-Type") == "application/octet-stream" {
		return instancesImport(d, r)
	}
	var req api.InstancesPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if err := mayReach(r, req.Source.Project); err != nil {
		return fail(err)
	}
	if req.Source.Type == "image" && req.Source.Server != "" {
		return instanceFromRemoteImage(d, r, req)
	}
	if req.Source.Type == "migration" {
		return instanceFromMigration(d, r, req)
	}
	create, err := d.Instances.PrepareCreate(requestProject(r), &req)
	if err != nil {
		return fail(err)
	}
	op := d.Ops.Start("Creating instance", resources(project.StoreKey(requestProject(r), req.Name)), nil, func(ctx context.Context, op *operation.Op) error {
		if err := create(ctx); err != nil {
			return err
		}
		if req.Start {
			return d.Instances.Start(ctx, req.Name)
		}
		return nil
	})
	return asyncResp{op}
}

func instanceGet(d *Daemon, r *http.Request) response {
	inst, rev, err := d.Instances.Get(instanceKey(r))
	if err != nil {
		return fail(err)
	}
	if recursion(r) > 0 {
		full, err := instanceFull(d, inst)
		if err != nil {
			return fail(err)
		}
		return okETag(full, rev)
	}
	return okETag(inst, rev)
}

func instancePut(d *Daemon, r *http.Request) response {
	var put api.InstancePut
	if err := decode(r, &put); err != nil {
		return fail(err)
	}
	if put.Restore != "" {
		// lxc sends "instance/snapshot", pylxd just the snapshot.
		snap := strings.TrimPrefix(put.Restore, r.PathValue("name")+"/")
		return restoreResp(d, instanceKey(r), snap)
	}
	return updateInstance(d, r, put)
}

// instancePatch merges the body into the instance as stored, then updates.
func instancePatch(d *Daemon, r *http.Request) response {
	name := instanceKey(r)
	err := patchRecord(r, func() (api.InstancePut, uint64, error) {
		cur, rev, err := d.Instances.Get(name)
		return api.InstancePut{Architecture: cur.Architecture, Config: cur.Config, Devices: cur.Devices, Ephemeral: cur.Ephemeral,
			Profiles: cur.Profiles, Stateful: cur.Stateful, Description: cur.Description}, rev, err
	}, func(put *api.InstancePut, patch map[string]json.RawMessage) error {
		return errors.Join(mergePatch(patch, "config", put.Config), mergePatch(patch, "devices", put.Devices),
			replacePatch(patch, map[string]any{"profiles": &put.Profiles, "description": &put.Description, "ephemeral": &put.Ephemeral}))
	}, func(put api.InstancePut, rev uint64) error {
		return d.Instances.Update(name, withoutEmptyKeys(put), rev)
	})
	if err != nil {
		return fail(err)
	}
	return instanceUpdated(d, name)
}

func updateInstance(d *Daemon, r *http.Request, put api.InstancePut) response {
	name := instanceKey(r)
	rev, err := ifMatch(r)
	if err != nil {
		return fail(err)
	}
	if err := d.Instances.Update(name, withoutEmptyKeys(put), rev); err != nil {
		return fail(err)
	}
	return instanceUpdated(d, name)
}

func withoutEmptyKeys(put api.InstancePut) api.InstancePut {
	dropEmptyValues(put.Config)
	return put
}

// instanceUpdated answers a PUT or PATCH: LXD answers with an operation,
// and clients wait on it.
func instanceUpdated(d *Daemon, name string) response {
	op := d.Ops.Start("Updating instance", resources(name), nil, func(context.Context, *operation.Op) error { return nil })
	return asyncResp{op}
}

func instancePost(d *Daemon, r *http.Request) response {
	name := instanceKey(r)
	var req api.InstancePost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	inst, _, err := d.Instances.Get(name)
	if err != nil {
		return fail(err)
	}
	if req.Project != "" && req.Pool == "" {
		return instanceProjectMove(d, r, inst, req)
	}
	if req.Migration && req.Pool == "" {
		// To another host: this one is the source.
		return instanceMigrateSource(d, r, name, req)
	}
	if err := validate.InstanceName(req.Name); err != nil {
		return fail(err)
	}
	if req.Migration {
		// lxc move --storage: to another pool (and a new name, if given).
		if st, _ := d.Instances.Status(name); st != "Stopped" {
			// lxc asks for a live move of a running instance.
			return fail(apierr.BadRequest("instance %q is running: stop it before moving it to another pool (live moves need CRIU, which this host does not offer)", inst.Name))
		}
		if !d.Pools.Exists(req.Pool) {
			return fail(apierr.BadRequest("storage pool %q does not exist", req.Pool))
		}
		op := d.Ops.Start("Moving instance", resources(name), nil, func(ctx context.Context, _ *operation.Op) error {
			if err := d.Instances.MovePool(ctx, name, req.Pool, req.InstanceOnly); err != nil {
				return err
			}
			if req.Name != inst.Name {
				return d.Instances.Rename(name, req.Name)
			}
			return nil
		})
		return asyncResp{op}
	}
	op := d.Ops.Start("Renaming instance", resources(name), nil, func(context.Context, *operation.Op) error {
		return d.Instances.Rename(name, req.Name)
	})
	return asyncResp{op}
}

func instanceDelete(d *Daemon, r *http.Request) response {
	name := instanceKey(r)
	if _, _, err := d.Instances.Get(name); err != nil {
		return fail(err)
	}
	if st, _ := d.Instances.Status(name); st != "Stopped" {
		return fail(apierr.BadRequest("instance %q is running: stop it first (or delete --force)", name))
	}
	op := d.Ops.Start("Deleting instance", resources(name), nil, func(context.Context, *operation.Op) error {
		return d.Instances.Delete(name)
	})
	return asyncResp{op}
}

func instanceStateGet(d *Daemon, r *http.Request) response {
	st, err := d.Instances.State(instanceKey(r))
	if err != nil {
		return fail(err)
	}
	return ok(st)
}

func instanceStatePut(d *Daemon, r *http.Request) response {
	name := instanceKey(r)
	var req api.InstanceStatePut
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if _, _, err := d.Instances.Get(name); err != nil {
		return fail(err)
	}
	desc, work, err := stateChange(d, r, req)
	if err != nil {
		return fail(err)
	}
	op := d.Ops.Start(desc, resources(name), nil, func(ctx context.Context, op *operation.Op) error { return work(ctx, name) })
	return asyncResp{op}
}

// stateChange is what a state change asks for: the operation's
// description and the work on one instance.
func stateChange(d *Daemon, r *http.Request, req api.InstanceStatePut) (string, func(ctx context.Context, key string) error, error) {
	if req.Stateful {
		return "", nil, statefulRefusal(r, "a stateful "+req.Action)
	}
	timeout := time.Duration(req.Timeout) * time.Second
	if req.Timeout < 0 {
		timeout = -1
	}
	switch req.Action {
	case "start":
		return "Starting instance", d.Instances.Start, nil
	case "stop":
		return "Stopping instance", func(ctx context.Context, key string) error { return d.Instances.Stop(ctx, key, req.Force, timeout) }, nil
	case "restart":
		return "Restarting instance", func(ctx context.Context, key string) error { return d.Instances.Restart(ctx, key, req.Force, timeout) }, nil
	case "freeze":
		return "Freezing instance", d.Instances.Freeze, nil
	case "unfreeze":
		return "Unfreezing instance", d.Instances.Unfreeze, nil
	}
	return "", nil, apierr.BadRequest("unknown action %q (use start, stop, restart, freeze or unfreeze)", req.Action)
}

// Logs: files in $LODGE_DIR/logs/<name>/.
func instanceLogsGet(d *Daemon, r *http.Request) response {
	name := instanceKey(r)
	if _, _, err := d.Instances.Get(name); err != nil {
		return fail(err)
	}
	entries, _ := os.ReadDir(d.Instances.LogDir(name))
	urls := []string{}
	for _, e := range entries {
		if e.Type().IsRegular() {
			urls = append(urls, instanceURL(name)+"/logs/"+e.Name())
		}
	}
	sort.Strings(urls)
	return ok(urls)
}

func logFile(d *Daemon, r *http.Request) (string, error) {
	name, file := instanceKey(r), r.PathValue("file")
	if _, _, err := d.Instances.Get(name); err != nil {
		return "", err
	}
	if file == "" || strings.ContainsAny(file, "/\\") || file == "." || file == ".." || !strings.HasSuffix(file, ".log") && !strings.HasPrefix(file, "exec_") {
		return "", apierr.BadRequest("log file %q is invalid", file)
	}
	return filepath.Join(d.Instances.LogDir(name), file), nil
}

func instanceLogGet(d *Daemon, r *http.Request) response {
	path, err := logFile(d, r)
	if err != nil {
		return fail(err)
	}
	if _, err := os.Stat(path); err != nil {
		return fail(apierr.NotFound("log file %q", r.PathValue("file")))
	}
	return rawResp(func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeFile(w, r, path)
	})
}

func instanceLogDelete(d *Daemon, r *http.Request) response {
	path, err := logFile(d, r)
	if err != nil {
		return fail(err)
	}
	if strings.HasSuffix(path, "console.log") {
		return fail(apierr.BadRequest("the console log cannot be deleted while the instance exists"))
	}
	if err := os.Remove(path); err != nil {
		return fail(apierr.NotFound("log file %q", r.PathValue("file")))
	}
	return empty()
}

// instanceFromRemoteImage makes an instance from another server's image
// (lxc launch remote:image): the image is pulled into the cache first,
// unless it is there, then the instance is made from it.
func instanceFromRemoteImage(d *Daemon, r *http.Request, req api.InstancesPost) response {
	src := req.Source
	ref := src.Fingerprint
	if ref == "" {
		ref = src.Alias
	}
	if ref == "" {
		return fail(apierr.BadRequest("source: give the image's fingerprint or alias"))
	}
	if req.Name == "" {
		return fail(apierr.BadRequest("give the instance a name"))
	}
	if _, err := d.Images.Servers.Open(src.Protocol, src.Server, imageserver.Options{Certificate: src.Certificate}); err != nil {
		return fail(err)
	}
	proj := d.imagesProject(r)
	if _, _, err := d.Instances.Get(project.StoreKey(proj, req.Name)); err == nil {
		return fail(apierr.Conflict("instance %q already exists", req.Name))
	}
	op := d.Ops.Start("Creating instance", resources(project.StoreKey(requestProject(r), req.Name)), nil, func(ctx context.Context, op *operation.Op) error {
		img, err := d.Images.Pull(ctx, image.Pull{Project: proj, Ref: ref,
			Source:  api.ImageSource{Server: src.Server, Protocol: src.Protocol, Certificate: src.Certificate, Alias: src.Alias, ImageType: req.Type},
			Options: imageserver.Options{Certificate: src.Certificate, Secret: src.Secret},
			Cached:  true, AutoUpdate: d.configValue("images.auto_update_cached", "true") == "true" && src.Alias != "",
			Progress: downloadProgress(op)})
		if err != nil {
			return err
		}
		local := req
		local.Source = api.InstanceSource{Type: "image", Fingerprint: img.Fingerprint}
		create, err := d.Instances.PrepareCreate(proj, &local)
		if err != nil {
			return err
		}
		if err := create(ctx); err != nil {
			return err
		}
		if req.Start {
			return d.Instances.Start(ctx, local.Name)
		}
		return nil
	})
	return asyncResp{op}
}
