package daemon

import (
	"context"
	"net/http"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/operation"
)

func snapshotURL(name, snap string) string { return instanceURL(name) + "/snapshots/" + snap }

func snapshotsGet(d *Daemon, r *http.Request) response {
	name := instanceKey(r)
	snaps, err := d.Instances.Snapshots(name)
	if err != nil {
		return fail(err)
	}
	if recursion(r) > 0 {
		return ok(snaps)
	}
	urls := make([]string, 0, len(snaps))
	for _, s := range snaps {
		urls = append(urls, snapshotURL(name, s.Name))
	}
	return ok(urls)
}

func snapshotsPost(d *Daemon, r *http.Request) response {
	name := instanceKey(r)
	var req api.InstanceSnapshotsPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if req.Stateful {
		return fail(statefulRefusal(r, "a stateful snapshot"))
	}
	if _, _, err := d.Instances.Get(name); err != nil {
		return fail(err)
	}
	op := d.Ops.Start("Snapshotting instance", resources(name), nil, func(ctx context.Context, op *operation.Op) error {
		_, err := d.Instances.CreateSnapshot(ctx, name, req.Name, req.ExpiresAt)
		return err
	})
	return asyncResp{op}
}

func snapshotGet(d *Daemon, r *http.Request) response {
	snap, rev, err := d.Instances.Snapshot(instanceKey(r), r.PathValue("snap"))
	if err != nil {
		return fail(err)
	}
	return okETag(snap, rev)
}

func snapshotPut(d *Daemon, r *http.Request) response {
	var put api.InstanceSnapshotPut
	if err := decode(r, &put); err != nil {
		return fail(err)
	}
	rev, err := ifMatch(r)
	if err != nil {
		return fail(err)
	}
	name, snap := instanceKey(r), r.PathValue("snap")
	if err := d.Instances.UpdateSnapshot(name, snap, put, rev); err != nil {
		return fail(err)
	}
	op := d.Ops.Start("Updating snapshot", resources(name), nil, func(context.Context, *operation.Op) error { return nil })
	return asyncResp{op}
}

func snapshotPost(d *Daemon, r *http.Request) response {
	name, snap := instanceKey(r), r.PathValue("snap")
	var req api.InstanceSnapshotPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if _, _, err := d.Instances.Snapshot(name, snap); err != nil {
		return fail(err)
	}
	if req.Migration {
		return snapshotMigrateSource(d, r, name, snap, req)
	}
	op := d.Ops.Start("Renaming snapshot", resources(name), nil, func(context.Context, *operation.Op) error {
		return d.Instances.RenameSnapshot(name, snap, req.Name)
	})
	return asyncResp{op}
}

func snapshotDelete(d *Daemon, r *http.Request) response {
	name, snap := instanceKey(r), r.PathValue("snap")
	if _, _, err := d.Instances.Snapshot(name, snap); err != nil {
		return fail(err)
	}
	op := d.Ops.Start("Deleting snapshot", resources(name), nil, func(context.Context, *operation.Op) error {
		return d.Instances.DeleteSnapshot(name, snap)
	})
	return asyncResp{op}
}

// restoreResp answers PUT /1.0/instances/<name> {"restore": snap}.
func restoreResp(d *Daemon, name, snap string) response {
	if _, _, err := d.Instances.Snapshot(name, snap); err != nil {
		return fail(apierr.BadRequest("cannot restore: snapshot %q of %q does not exist", snap, name))
	}
	op := d.Ops.Start("Restoring snapshot", resources(name), nil, func(ctx context.Context, op *operation.Op) error {
		return d.Instances.RestoreSnapshot(ctx, name, snap)
	})
	return asyncResp{op}
}
