package daemon

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/operation"
	"github.com/lodge-project/lodge/internal/project"
)

// Custom volume backups (custom_volume_backup): lxc storage volume export
// makes one, downloads it and deletes it; lxc storage volume import posts
// a tarball to the pool's custom volumes.

func volumeBackupURL(pool, name, b string) string {
	return volumeURL(pool, "custom", name) + "/backups/" + b
}

func volumeBackupsGet(d *Daemon, r *http.Request) response {
	pool, typ, name := r.PathValue("pool"), r.PathValue("type"), r.PathValue("name")
	if err := customOnly(typ); err != nil {
		return fail(err)
	}
	list, err := d.Pools.CustomVolumeBackups(pool, d.volumesProject(r), name)
	if err != nil {
		return fail(err)
	}
	if recursion(r) > 0 {
		out := []api.StoragePoolVolumeBackup{}
		for _, b := range list {
			out = append(out, b.API())
		}
		return ok(out)
	}
	urls := []string{}
	for _, b := range list {
		urls = append(urls, volumeBackupURL(pool, name, b.Name))
	}
	return ok(urls)
}

func volumeBackupsPost(d *Daemon, r *http.Request) response {
	pool, typ, name := r.PathValue("pool"), r.PathValue("type"), r.PathValue("name")
	if err := customOnly(typ); err != nil {
		return fail(err)
	}
	var req api.StoragePoolVolumeBackupsPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	b, work, err := d.Pools.PrepareCustomVolumeBackup(pool, d.volumesProject(r), name, req)
	if err != nil {
		return fail(err)
	}
	res := map[string][]string{"storage_volumes": {project.URL(d.volumesProject(r), volumeURL(pool, typ, name))}, "backups": {"/1.0/backups/" + b}}
	op := d.Ops.Start("Backing up storage volume", res, nil, func(ctx context.Context, _ *operation.Op) error { return work(ctx) })
	return asyncResp{op}
}

func volumeBackupGet(d *Daemon, r *http.Request) response {
	b, _, err := d.Pools.CustomVolumeBackup(r.PathValue("pool"), d.volumesProject(r), r.PathValue("name"), r.PathValue("backup"))
	if err != nil {
		return fail(err)
	}
	return ok(b.API())
}

func volumeBackupPost(d *Daemon, r *http.Request) response {
	pool, name, b := r.PathValue("pool"), r.PathValue("name"), r.PathValue("backup")
	var req api.InstanceBackupPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	proj := d.volumesProject(r)
	if _, _, err := d.Pools.CustomVolumeBackup(pool, proj, name, b); err != nil {
		return fail(err)
	}
	op := d.Ops.Start("Renaming storage volume backup", map[string][]string{"storage_volumes": {project.URL(d.volumesProject(r), volumeURL(pool, "custom", name))}}, nil,
		func(context.Context, *operation.Op) error {
			return d.Pools.RenameCustomVolumeBackup(pool, proj, name, b, req.Name)
		})
	return asyncResp{op}
}

func volumeBackupDelete(d *Daemon, r *http.Request) response {
	pool, name, b := r.PathValue("pool"), r.PathValue("name"), r.PathValue("backup")
	proj := d.volumesProject(r)
	if _, _, err := d.Pools.CustomVolumeBackup(pool, proj, name, b); err != nil {
		return fail(err)
	}
	op := d.Ops.Start("Deleting storage volume backup", map[string][]string{"storage_volumes": {project.URL(d.volumesProject(r), volumeURL(pool, "custom", name))}}, nil,
		func(context.Context, *operation.Op) error {
			return d.Pools.DeleteCustomVolumeBackup(pool, proj, name, b)
		})
	return asyncResp{op}
}

func volumeBackupExport(d *Daemon, r *http.Request) response {
	_, path, err := d.Pools.CustomVolumeBackup(r.PathValue("pool"), d.volumesProject(r), r.PathValue("name"), r.PathValue("backup"))
	if err != nil {
		return fail(err)
	}
	return fileResp(path)
}

// fileResp sends a file as the body (a backup's tarball).
func fileResp(path string) response {
	f, err := os.Open(path)
	if err != nil {
		return fail(err)
	}
	return rawResp(func(w http.ResponseWriter) {
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			errResp{err}.write(w)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(st.Size(), 10))
		_, _ = io.Copy(w, f)
	})
}

// spoolBody saves a posted tarball to a file of lodged's own, for an
// import to read more than once.
func spoolBody(d *Daemon, r *http.Request) (string, error) {
	return spool(d, r.Body)
}

// spool writes body to a new file in the backups folder, named as an
// upload start-up removes.
func spool(d *Daemon, body io.Reader) (string, error) {
	dir := filepath.Join(d.Dir, "backups")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, "import-*.partial")
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", apierr.BadRequest("reading the backup: %v", err)
	}
	return f.Name(), nil
}

// volumesImport makes a custom volume from a backup tarball posted as the
// body (lxc storage volume import).
func volumesImport(d *Daemon, r *http.Request, pool string) response {
	file, err := spoolBody(d, r)
	if err != nil {
		return fail(err)
	}
	name, work, err := d.Pools.PrepareCustomVolumeImport(r.Context(), pool, d.volumesProject(r), file, r.Header.Get("X-LXD-name"))
	if err != nil {
		_ = os.Remove(file)
		return fail(err)
	}
	op := d.Ops.Start("Restoring storage volume backup", map[string][]string{"storage_volumes": {project.URL(d.volumesProject(r), volumeURL(pool, "custom", name))}}, nil,
		func(ctx context.Context, _ *operation.Op) error {
			defer os.Remove(file)
			return work(ctx)
		})
	return asyncResp{op}
}
