package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/image"
	"github.com/lodge-project/lodge/internal/operation"
	"github.com/lodge-project/lodge/internal/project"
)

func imagesGet(d *Daemon, r *http.Request) response {
	imgs, err := d.Images.List(d.imagesProject(r))
	if err != nil {
		return fail(err)
	}
	if !isTrusted(r) {
		imgs = publicOnly(imgs)
	}
	if recursion(r) > 0 {
		return ok(imgs)
	}
	urls := make([]string, 0, len(imgs))
	for _, img := range imgs {
		urls = append(urls, "/1.0/images/"+img.Fingerprint)
	}
	return ok(urls)
}

// imagesPost takes an upload as LXD clients send it: the unified tarball as
// the body, or a multipart form with "metadata" and "rootfs" parts. The
// upload is checked before answering, so a bad tarball is a 400.
func imagesPost(d *Daemon, r *http.Request) response {
	ctype, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ctype == "" || ctype == "text/plain" {
		// As LXD: a body without a type is a request when it is JSON.
		br := bufio.NewReader(r.Body)
		if first, err := br.Peek(1); err == nil && first[0] == '{' {
			ctype = "application/json"
		}
		r.Body = struct {
			io.Reader
			io.Closer
		}{br, r.Body}
	}
	if ctype == "application/json" {
		if !isTrusted(r) {
			return fail(apierr.ErrForbidden)
		}
		return imagesPostJSON(d, r)
	}
	// An untrusted client uploads only with a push token (image_push.go).
	grant, err := d.spendPushToken(r)
	if err != nil {
		return fail(err)
	}
	if grant == nil && !isTrusted(r) {
		return fail(apierr.ErrForbidden)
	}
	up := image.Upload{Project: d.imagesProject(r), Filename: r.Header.Get("X-LXD-filename"), Public: r.Header.Get("X-LXD-public") == "1" || r.Header.Get("X-LXD-public") == "true"}
	if props := r.Header.Get("X-LXD-properties"); props != "" {
		vals, err := url.ParseQuery(props)
		if err != nil {
			return fail(apierr.BadRequest("X-LXD-properties: %v", err))
		}
		up.Properties = map[string]string{}
		for k := range vals {
			up.Properties[k] = vals.Get(k)
		}
	}
	if grant != nil {
		up = grant.upload(up)
	}
	var img api.Image
	if ctype == "multipart/form-data" {
		img, err = importMultipart(r.Context(), d, r.Body, params["boundary"], up)
	} else {
		up.Unified = r.Body
		img, err = d.Images.Import(r.Context(), up)
	}
	if err != nil {
		return fail(err)
	}
	md := map[string]any{"fingerprint": img.Fingerprint, "size": img.Size}
	if grant != nil {
		if err := grant.finish(d, img); err != nil {
			return fail(err)
		}
		// The pushing host waits for the operation with this secret.
		md["secret"] = newSecret()
	}
	d.Bus.Lifecycle("image-created", "/1.0/images/"+img.Fingerprint, nil)
	op := d.Ops.Start("Downloading image", map[string][]string{"images": {project.URL(up.Project, "/1.0/images/"+img.Fingerprint)}}, md,
		func(context.Context, *operation.Op) error { return nil })
	return asyncResp{op}
}

// importMultipart spools the form's parts in order: metadata, then rootfs.
func importMultipart(ctx context.Context, d *Daemon, body io.Reader, boundary string, up image.Upload) (api.Image, error) {
	if boundary == "" {
		return api.Image{}, apierr.BadRequest("multipart upload without a boundary")
	}
	mr := multipart.NewReader(body, boundary)
	tmp, err := os.MkdirTemp(filepath.Join(d.Dir, "images"), ".multipart-")
	if err != nil {
		return api.Image{}, err
	}
	defer os.RemoveAll(tmp)
	files := map[string]*os.File{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return api.Image{}, apierr.BadRequest("multipart upload: %v", err)
		}
		name := part.FormName()
		if name != "metadata" && name != "rootfs" {
			return api.Image{}, apierr.BadRequest("multipart upload: unexpected part %q (want metadata and rootfs)", name)
		}
		f, err := os.Create(filepath.Join(tmp, name))
		if err != nil {
			return api.Image{}, err
		}
		defer f.Close()
		if _, err := io.Copy(f, io.LimitReader(part, 64<<30)); err != nil {
			return api.Image{}, apierr.BadRequest("multipart upload: %v", err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return api.Image{}, err
		}
		files[name] = f
	}
	if files["metadata"] == nil || files["rootfs"] == nil {
		return api.Image{}, apierr.BadRequest("a split image needs a metadata and a rootfs part")
	}
	up.Meta, up.Rootfs = files["metadata"], files["rootfs"]
	return d.Images.Import(ctx, up)
}

func imageGet(d *Daemon, r *http.Request) response {
	img, rev, err := d.visibleImage(r, false)
	if err != nil {
		return fail(err)
	}
	return okETag(img, rev)
}

func imagePut(d *Daemon, r *http.Request) response {
	var put api.ImagePut
	if err := decode(r, &put); err != nil {
		return fail(err)
	}
	rev, err := ifMatch(r)
	if err != nil {
		return fail(err)
	}
	if err := d.Images.Update(d.imagesProject(r), r.PathValue("fp"), put, rev); err != nil {
		return fail(err)
	}
	return empty()
}

func imagePatch(d *Daemon, r *http.Request) response {
	img, _, err := d.Images.Get(d.imagesProject(r), r.PathValue("fp"))
	if err != nil {
		return fail(err)
	}
	err = patchRecord(r, func() (api.ImagePut, uint64, error) {
		cur, rev, err := d.Images.Get(d.imagesProject(r), img.Fingerprint)
		put := api.ImagePut{AutoUpdate: cur.AutoUpdate, Properties: cur.Properties, Public: cur.Public, Profiles: cur.Profiles, ExpiresAt: cur.ExpiresAt}
		if put.Properties == nil {
			put.Properties = map[string]string{}
		}
		return put, rev, err
	}, func(put *api.ImagePut, patch map[string]json.RawMessage) error {
		return errors.Join(mergePatch(patch, "properties", put.Properties),
			replacePatch(patch, map[string]any{"public": &put.Public, "auto_update": &put.AutoUpdate, "profiles": &put.Profiles, "expires_at": &put.ExpiresAt}))
	}, func(put api.ImagePut, rev uint64) error {
		return d.Images.Update(d.imagesProject(r), img.Fingerprint, put, rev)
	})
	if err != nil {
		return fail(err)
	}
	return empty()
}

func imageDelete(d *Daemon, r *http.Request) response {
	img, _, err := d.Images.Get(d.imagesProject(r), r.PathValue("fp"))
	if err != nil {
		return fail(err)
	}
	op := d.Ops.Start("Deleting image", map[string][]string{"images": {project.URL(d.imagesProject(r), "/1.0/images/"+img.Fingerprint)}}, nil,
		func(context.Context, *operation.Op) error {
			if err := d.Images.Delete(d.imagesProject(r), img.Fingerprint); err != nil {
				return err
			}
			d.Bus.Lifecycle("image-deleted", "/1.0/images/"+img.Fingerprint, nil)
			return nil
		})
	return asyncResp{op}
}

func imageSubGet(d *Daemon, r *http.Request) response {
	if r.PathValue("fp") == "aliases" {
		r.SetPathValue("name", r.PathValue("sub"))
		return aliasGet(d, r)
	}
	if r.PathValue("sub") == "export" {
		return imageExport(d, r)
	}
	return fail(notFoundOrMethod(r))
}

// imageExport sends the image as it was imported: the unified tarball, or
// a multipart body with its metadata and rootfs files.
func imageExport(d *Daemon, r *http.Request) response {
	img, _, err := d.visibleImage(r, true)
	if err != nil {
		return fail(err)
	}
	meta, rootfs := d.Images.Files(img.Fingerprint)
	return rawResp(func(w http.ResponseWriter) {
		if err := image.WriteExport(w, img.Fingerprint, meta, rootfs); err != nil {
			errResp{err}.write(w)
		}
	})
}

func aliasesGet(d *Daemon, r *http.Request) response {
	all, err := d.Images.ListAliases(d.imagesProject(r))
	if err != nil {
		return fail(err)
	}
	if !isTrusted(r) {
		all = d.publicAliases(d.imagesProject(r), all)
	}
	if recursion(r) > 0 {
		if all == nil {
			all = []api.ImageAliasesEntry{}
		}
		return ok(all)
	}
	urls := []string{}
	for _, a := range all {
		urls = append(urls, "/1.0/images/aliases/"+a.Name)
	}
	return ok(urls)
}

func aliasesPost(d *Daemon, r *http.Request) response {
	var req api.ImageAliasesPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if err := d.Images.CreateAlias(d.imagesProject(r), req); err != nil {
		return fail(err)
	}
	return syncResp{metadata: map[string]any{}, location: "/1.0/images/aliases/" + req.Name, status: http.StatusCreated}
}

func aliasGet(d *Daemon, r *http.Request) response {
	a, rev, err := d.Images.GetAlias(d.imagesProject(r), r.PathValue("name"))
	if err == nil && !isTrusted(r) && len(d.publicAliases(d.imagesProject(r), []api.ImageAliasesEntry{a})) == 0 {
		err = apierr.NotFound("image alias %q", a.Name)
	}
	if err != nil {
		return fail(err)
	}
	return okETag(a, rev)
}

func aliasPut(d *Daemon, r *http.Request) response {
	var put api.ImageAliasesEntryPut
	if err := decode(r, &put); err != nil {
		return fail(err)
	}
	rev, err := ifMatch(r)
	if err != nil {
		return fail(err)
	}
	if err := d.Images.UpdateAlias(d.imagesProject(r), r.PathValue("name"), put, rev); err != nil {
		return fail(err)
	}
	return empty()
}

func aliasPatch(d *Daemon, r *http.Request) response {
	a, _, err := d.Images.GetAlias(d.imagesProject(r), r.PathValue("name"))
	if err != nil {
		return fail(err)
	}
	put := api.ImageAliasesEntryPut{Description: a.Description, Target: a.Target}
	if err := decode(r, &put); err != nil {
		return fail(err)
	}
	rev, err := ifMatch(r)
	if err != nil {
		return fail(err)
	}
	if err := d.Images.UpdateAlias(d.imagesProject(r), a.Name, put, rev); err != nil {
		return fail(err)
	}
	return empty()
}

func aliasPost(d *Daemon, r *http.Request) response {
	var req api.ImageAliasesEntryPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if err := d.Images.RenameAlias(d.imagesProject(r), r.PathValue("name"), req.Name); err != nil {
		return fail(err)
	}
	return syncResp{metadata: map[string]any{}, location: "/1.0/images/aliases/" + req.Name, status: http.StatusCreated}
}

func aliasDelete(d *Daemon, r *http.Request) response {
	if err := d.Images.DeleteAlias(d.imagesProject(r), r.PathValue("name")); err != nil {
		return fail(err)
	}
	return empty()
}
