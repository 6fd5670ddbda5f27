package daemon

import (
	"context"
	"net/http"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
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
	if _, _, err := d.Pools.CustomVolume(pool, proj, req.Name); err == nil && req.Source.Refresh {
		return fail(apierr.BadRequest("storage volume %q: refreshing a volume from another host is not supported yet; copy it to a new name, or delete this one first", req.Name))
	}
	sink, err := d.Pools.PrepareCustomVolumeMigration(pool, proj, req)
	if err != nil {
		return fail(err)
	}
	makeVolume := sink.Make
	sink.Make = func(ctx context.Context, in *migration.Incoming) error {
		transfer := "rsync"
		if in.Streams {
			transfer = sink.Driver + " streams"
		}
		d.Log.Info("receiving a storage volume from another host", "volume", req.Name, "pool", pool, "transfer", transfer, "snapshots", len(in.Snapshots))
		if err := makeVolume(ctx, in); err != nil {
			return err
		}
		d.Bus.Lifecycle("storage-volume-created", volumeURL(pool, string(storage.TypeCustom), req.Name), nil)
		return nil
	}
	res := map[string][]string{"storage_volumes": {project.URL(proj, volumeURL(pool, string(storage.TypeCustom), req.Name))}}
	return d.startMigrationSink("Creating storage volume", req.Name, res, from, dialer, sink, func() {})
}
