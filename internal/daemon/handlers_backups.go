package daemon

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/operation"
	"github.com/lodge-project/lodge/internal/spool"
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
// body (lxc import). The body lands in a file, which the import reads as
// it arrives: the index first, then (an optimized backup's streams, a
// member at a time) the work itself, which so runs while the upload goes
// on instead of after it. What reads the whole file at once (GNU tar)
// waits for its end (spool.Wait).
//
// An incremental backup comes with the earlier ones it builds on, oldest
// first, in one body: X-Lodge-Backup-Chain gives their sizes, and the
// newest is the rest.
func instancesImport(d *Daemon, r *http.Request) response {
	chain, err := spoolChain(d, r)
	if err != nil {
		return fail(err)
	}
	newest, err := spool.Create(uploadsDir(d), "import-*.partial")
	if err != nil {
		removeFiles(chain)
		return fail(err)
	}
	// Whatever happens here, the import's reads end with the request.
	defer newest.Done(errors.New("the request ended"))
	files := append(chain, newest.Name())
	type started struct {
		op  *operation.Op
		err error
	}
	ready := make(chan started, 1)
	go func() {
		name, work, err := d.Instances.PrepareImport(r.Context(), requestProject(r), newest.Name(), chain, r.Header.Get("X-LXD-pool"), r.Header.Get("X-LXD-name"))
		if err != nil {
			ready <- started{err: err}
			return
		}
		ready <- started{op: d.Ops.Start("Restoring backup", resources(name), nil, func(ctx context.Context, _ *operation.Op) error {
			defer removeFiles(files)
			return work(ctx)
		})}
	}()
	// The body to its end, unless the import was refused meanwhile.
	var res *started
	var readErr error
	buf := make([]byte, 1<<20)
	for res == nil || res.err == nil {
		if res == nil {
			select {
			case s := <-ready:
				res = &s
				continue
			default:
			}
		}
		n, err := r.Body.Read(buf)
		if n > 0 {
			if _, werr := newest.Write(buf[:n]); werr != nil {
				readErr = werr
				break
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			readErr = err
			break
		}
	}
	if res != nil && res.err != nil {
		readErr = errors.Join(readErr, res.err)
	}
	_ = newest.Done(readErr) // the import's reads end here
	if res == nil {
		s := <-ready
		res = &s
	}
	if res.err != nil {
		removeFiles(files)
		return fail(res.err)
	}
	if readErr != nil {
		// The operation fails at the cut, and removes the files.
		return fail(apierr.BadRequest("reading the backup: %v", readErr))
	}
	return asyncResp{res.op}
}

// maxChain bounds an incremental backup's chain.
const maxChain = 64

// spoolChain writes the earlier backups X-Lodge-Backup-Chain lists, one
// file per size, from the body; the rest of it is the newest backup.
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
	for _, n := range sizes {
		f, err := spoolUpload(d, io.LimitReader(r.Body, n))
		if err == nil {
			files = append(files, f)
			if st, serr := os.Stat(f); serr != nil || st.Size() != n {
				err = apierr.BadRequest("the body ends before the backups X-Lodge-Backup-Chain lists")
			}
		}
		if err != nil {
			removeFiles(files)
			return nil, err
		}
	}
	return files, nil
}

func removeFiles(files []string) {
	for _, f := range files {
		_ = os.Remove(f)
	}
}
