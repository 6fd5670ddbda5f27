package daemon

import (
	"context"
	"fmt"
	"net/http"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/instance/keys"
	"github.com/lodge-project/lodge/internal/operation"
	"github.com/lodge-project/lodge/internal/project"
)

// instanceProjectMove is POST /1.0/instances/<name> with a project
// (instance_project_move; lxc move c --target-project P): the stopped
// instance, with its snapshots unless instance_only, goes to another
// project of this host under name (its own by default). As in LXD it is a
// copy there, checked as any copy into that project is (its profiles,
// limits and restrictions), then the source's delete; if that delete
// fails, the copy goes instead, and the instance stays where it was.
func instanceProjectMove(d *Daemon, r *http.Request, inst api.Instance, req api.InstancePost) response {
	from, to := requestProject(r), project.Name(req.Project)
	key := instanceKey(r)
	if err := mayReach(r, to); err != nil {
		return fail(err)
	}
	if to == from {
		return fail(apierr.BadRequest("instance %q is in project %q already", inst.Name, to))
	}
	if d.Projects != nil && to != project.Default {
		if _, err := d.Projects.Config(to); err != nil {
			return fail(err)
		}
	}
	if st, _ := d.Instances.Status(key); st != "Stopped" {
		// lxc asks for a live move unless --stateless, running or not.
		if req.Live {
			return fail(statefulRefusal(r, "a live move to another project"))
		}
		return fail(apierr.BadRequest("instance %q is running: stop it before moving it to another project", inst.Name))
	}
	if keys.IsTrue(inst.ExpandedConfig, "security.protection.delete") { // its own, or a profile's
		return fail(apierr.BadRequest("instance %q is protected (security.protection.delete=true), and a move deletes it here: unset it first", inst.Name))
	}
	name := req.Name
	if name == "" {
		name = inst.Name
	}
	copyReq := api.InstancesPost{Name: name, Type: inst.Type,
		Source: api.InstanceSource{Type: "copy", Source: inst.Name, Project: from, InstanceOnly: req.InstanceOnly}}
	create, err := d.Instances.PrepareCreate(to, &copyReq)
	if err != nil {
		return fail(err)
	}
	newKey := project.StoreKey(to, name)
	// The operation is the source project's, where the client watches it
	// (an operation's project is that of the objects it names).
	op := d.Ops.Start("Moving instance", resources(key), nil, func(ctx context.Context, _ *operation.Op) error {
		if err := create(ctx); err != nil {
			return err
		}
		if err := d.Instances.Delete(key); err != nil {
			if derr := d.Instances.Delete(newKey); derr != nil {
				return fmt.Errorf("move %q to project %q: the source stays (%w), and its copy there could not be removed: %v", inst.Name, to, err, derr)
			}
			return fmt.Errorf("move %q to project %q: the source stays, its copy was removed: %w", inst.Name, to, err)
		}
		return nil // the service told of the create and the delete
	})
	return asyncResp{op}
}
