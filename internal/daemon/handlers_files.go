package daemon

import (
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/instance"
)

// Files: /1.0/instances/<name>/files?path=, with LXD's X-LXD-* headers.

func setFileHeaders(w http.ResponseWriter, info instance.FileInfo) {
	w.Header().Set("X-LXD-uid", strconv.FormatUint(uint64(info.UID), 10))
	w.Header().Set("X-LXD-gid", strconv.FormatUint(uint64(info.GID), 10))
	w.Header().Set("X-LXD-mode", fmt.Sprintf("%04o", info.Mode))
	w.Header().Set("X-LXD-type", info.Type)
}

func instanceFileGet(d *Daemon, r *http.Request) response {
	path := r.URL.Query().Get("path")
	info, body, err := d.Instances.GetFile(instanceKey(r), path)
	if err != nil {
		return fail(err)
	}
	if info.Type == "directory" {
		return rawResp(func(w http.ResponseWriter) {
			setFileHeaders(w, info)
			entries := info.Entries
			if entries == nil {
				entries = []string{}
			}
			syncResp{metadata: entries}.write(w)
		})
	}
	return rawResp(func(w http.ResponseWriter) {
		defer body.Close()
		setFileHeaders(w, info)
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = io.Copy(w, body)
	})
}

func intHeader(r *http.Request, name string, def int64, base int) (int64, error) {
	v := r.Header.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, base, 64)
	if err != nil {
		return 0, apierr.BadRequest("header %s: %q is not a number", name, v)
	}
	return n, nil
}

func instanceFilePost(d *Daemon, r *http.Request) response {
	path := r.URL.Query().Get("path")
	uid, err := intHeader(r, "X-LXD-uid", -1, 10)
	if err != nil {
		return fail(err)
	}
	gid, err := intHeader(r, "X-LXD-gid", -1, 10)
	if err != nil {
		return fail(err)
	}
	mode, err := intHeader(r, "X-LXD-mode", 0, 8)
	if err != nil {
		return fail(err)
	}
	write := r.Header.Get("X-LXD-write")
	if write != "" && write != "overwrite" && write != "append" {
		return fail(apierr.BadRequest("X-LXD-write %q: use overwrite or append", write))
	}
	typ := r.Header.Get("X-LXD-type")
	if err := d.Instances.PutFile(instanceKey(r), path, typ, uid, gid, uint32(max(mode, 0)), write == "append", r.Body); err != nil {
		return fail(err)
	}
	return empty()
}

func instanceFileDelete(d *Daemon, r *http.Request) response {
	if err := d.Instances.DeleteFile(instanceKey(r), r.URL.Query().Get("path")); err != nil {
		return fail(err)
	}
	return empty()
}
