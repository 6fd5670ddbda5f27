package daemon

import (
	"context"
	"net/http"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/migration"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/storage"
)

// Custom volumes between hosts (lxc storage volume copy a:pool/vol
// b:pool/vol): the source is asked first (POST of the volume with
// migration), then the target pulls from its operation, or is pushed to,
// or a client relays, as for instances (handlers_migration.go).

// volumeMigrateSource starts sending custom volume name to another host.
func volumeMigrateSource(d *Daemon, r *http.Request, pool, name string, req api.StorageVolumePost) response {
	src, err := d.Pools.CustomVolumeMigrationSource(pool, d.volumesProject(r), name, req.VolumeOnly)
	if err != nil {
		return fail(err)
	}
	res := map[string][]string{"storage_volumes": {project.URL(d.volumesProject(r), volumeURL(pool, string(storage.TypeCustom), name))}}
	return d.startMigrationSource("Migrating storage volume", name, res, src, req.Target)
}

// volumeFromMigration makes custom volume req.Name on pool from another
// host's.
func volumeFromMigration(d *Daemon, r *http.Request, pool string, req api.StorageVolumesPost) response {
	from := migrationSinkSource{mode: req.Source.Mode, operation: req.Source.Operation, certificate: req.Source.Certificate, websockets: req.Source.Websockets}
	dialer, err := from.checked()
	if err != nil {
		return fail(err)
	}
	proj := d.volumesProject(r)
	var sink *migration.Sink
	_, _, gerr := d.Pools.CustomVolume(pool, proj, req.Name)
	refresh := gerr == nil && req.Source.Refresh
	if refresh {
		// lxc storage volume copy --refresh onto a volume this host has.
		if err := d.Instances.VolumeIdle(proj, pool, req.Name); err != nil {
			return fail(err)
		}
		sink, err = d.Pools.PrepareCustomVolumeRefresh(pool, proj, req.Name)
	} else {
		sink, err = d.Pools.PrepareCustomVolumeMigration(pool, proj, req)
	}
	if err != nil {
		return fail(err)
	}
	makeVolume := sink.Make
	sink.Make = func(ctx context.Context, in *migration.Incoming) error {
		transfer, what, event := "rsync", "receiving a storage volume from another host", "storage-volume-created"
		if in.Streams {
			transfer = sink.Driver + " streams"
		}
		if refresh {
			what, event = "refreshing a storage volume from another host", "storage-volume-updated"
		}
		d.Log.Info(what, "volume", req.Name, "pool", pool, "transfer", transfer, "snapshots", len(in.Snapshots), "pruned", len(in.Prune))
		if err := makeVolume(ctx, in); err != nil {
			return err
		}
		d.Bus.Lifecycle(event, volumeURL(pool, string(storage.TypeCustom), req.Name), nil)
		return nil
	}
	res := map[string][]string{"storage_volumes": {project.URL(proj, volumeURL(pool, string(storage.TypeCustom), req.Name))}}
	desc := "Creating storage volume"
	if refresh {
		desc = "Refreshing storage volume"
	}
	return d.startMigrationSink(desc, req.Name, res, from, dialer, sink, func() {})
}
