package daemon

import (
	"context"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/operation"
)

// Instance backups (package instance writes them, package backup holds
// LXD's tarball layout). lxc export creates one, downloads /export and
// deletes it; lxc import posts the tarball to /1.0/instances.

func backupURL(key, name string) string { return instanceURL(key) + "/backups/" + name }

func backupsGet(d *Daemon, r *http.Request) response {
	key := instanceKey(r)
	backups, err := d.Instances.Backups(key)
	if err != nil {
		return fail(err)
	}
	if recursion(r) == 0 {
		urls := []string{}
		for _, b := range backups {
			urls = append(urls, backupURL(key, b.Name))
		}
		return ok(urls)
	}
	return ok(backups)
}

func backupsPost(d *Daemon, r *http.Request) response {
	key := instanceKey(r)
	var req api.InstanceBackupsPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	name, work, err := d.Instances.PrepareBackup(key, req)
	if err != nil {
		return fail(err)
	}
	res := resources(key)
	res["backups"] = []string{"/1.0/backups/" + name} // lxc export reads the name from it
	op := d.Ops.Start("Backing up instance", res, nil, func(ctx context.Context, _ *operation.Op) error {
		return work(ctx)
	})
	return asyncResp{op}
}

func backupGet(d *Daemon, r *http.Request) response {
	b, _, err := d.Instances.Backup(instanceKey(r), r.PathValue("backup"))
	if err != nil {
		return fail(err)
	}
	return ok(b)
}

func backupPost(d *Daemon, r *http.Request) response {
	key, name := instanceKey(r), r.PathValue("backup")
	var req api.InstanceBackupPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if _, _, err := d.Instances.Backup(key, name); err != nil {
		return fail(err)
	}
	op := d.Ops.Start("Renaming instance backup", resources(key), nil, func(context.Context, *operation.Op) error {
		return d.Instances.RenameBackup(key, name, req.Name)
	})
	return asyncResp{op}
}

func backupDelete(d *Daemon, r *http.Request) response {
	key, name := instanceKey(r), r.PathValue("backup")
	if _, _, err := d.Instances.Backup(key, name); err != nil {
		return fail(err)
	}
	op := d.Ops.Start("Deleting instance backup", resources(key), nil, func(context.Context, *operation.Op) error {
		return d.Instances.DeleteBackup(key, name)
	})
	return asyncResp{op}
}

func backupExport(d *Daemon, r *http.Request) response {
	_, path, err := d.Instances.Backup(instanceKey(r), r.PathValue("backup"))
	if err != nil {
		return fail(err)
	}
	return fileResp(path)
}

// instancesImport makes an instance from a backup tarball posted as the
// body (lxc import): the body lands in a file first, since the index is
// read before the trees and each tree is read on its own.
//
// An incremental backup comes with the earlier ones it builds on, oldest
// first, in one body: X-Lodge-Backup-Chain gives their sizes, and the
// newest is the rest.
func instancesImport(d *Daemon, r *http.Request) response {
	files, err := spoolChain(d, r)
	if err != nil {
		return fail(err)
	}
	removeAll := func() {
		for _, f := range files {
			_ = os.Remove(f)
		}
	}
	newest := files[len(files)-1]
	name, work, err := d.Instances.PrepareImport(r.Context(), requestProject(r), newest, files[:len(files)-1], r.Header.Get("X-LXD-pool"), r.Header.Get("X-LXD-name"))
	if err != nil {
		removeAll()
		return fail(err)
	}
	op := d.Ops.Start("Restoring backup", resources(name), nil, func(ctx context.Context, _ *operation.Op) error {
		defer removeAll()
		return work(ctx)
	})
	return asyncResp{op}
}

// maxChain bounds an incremental backup's chain.
const maxChain = 64

// spoolChain writes the body to files: one per size X-Lodge-Backup-Chain
// lists, then the rest.
func spoolChain(d *Daemon, r *http.Request) ([]string, error) {
	var sizes []int64
	if h := r.Header.Get("X-Lodge-Backup-Chain"); h != "" {
		for _, f := range strings.Split(h, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil || n <= 0 {
				return nil, apierr.BadRequest("X-Lodge-Backup-Chain: %q is not a size", f)
			}
			sizes = append(sizes, n)
		}
		if len(sizes) > maxChain {
			return nil, apierr.BadRequest("X-Lodge-Backup-Chain: more than %d backups", maxChain)
		}
	}
	var files []string
	body := r.Body
	for _, n := range sizes {
		f, err := spool(d, io.LimitReader(body, n))
		if err == nil {
			files = append(files, f)
			if st, serr := os.Stat(f); serr != nil || st.Size() != n {
				err = apierr.BadRequest("the body ends before the backups X-Lodge-Backup-Chain lists")
			}
		}
		if err != nil {
			for _, f := range files {
				_ = os.Remove(f)
			}
			return nil, err
		}
	}
	f, err := spool(d, body)
	if err != nil {
		for _, f := range files {
			_ = os.Remove(f)
		}
		return nil, err
	}
	return append(files, f), nil
}
