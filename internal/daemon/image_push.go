package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/client"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/image"
	"github.com/lodge-project/lodge/internal/operation"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/trust"
)

// Push mode (lxc image copy --mode push; LXD's images_push_relay): the
// target hands out a token for one image (POST /1.0/images with a push
// source), and the source, told the target's address, certificate and
// token (POST /1.0/images/<fp>/export), uploads the image to it as a
// client the target does not trust. The token is good for one upload of
// that fingerprint: anything else sent with it is refused before it is
// unpacked.

const (
	imageDownloadTokenDesc = "Image download token"
	imageUploadTokenDesc   = "Image upload token"
)

var wholeFingerprint = regexp.MustCompile(`^[0-9a-f]{64}$`)

// imagePushToken answers POST /1.0/images in push mode: a token whose
// secret lets the source upload the image. What the request says of the
// new image (aliases, public, properties, expiry) rides in the token's
// metadata, as in LXD, and applies when the upload comes.
func imagePushToken(d *Daemon, r *http.Request, req api.ImagesPost) response {
	fp := req.Source.Fingerprint
	if !wholeFingerprint.MatchString(fp) {
		return fail(apierr.BadRequest("source.fingerprint %q: a pushed image is named by its whole fingerprint (64 hex digits)", fp))
	}
	proj := d.imagesProject(r)
	if _, _, err := d.Images.Get(proj, fp); err == nil {
		return fail(apierr.Conflict("image %s is here already", fp[:12]))
	}
	md := map[string]any{"secret": newSecret(), "aliases": req.Aliases, "public": req.Public, "properties": req.Properties, "expires_at": req.ExpiresAt}
	op := d.Ops.StartToken(imageUploadTokenDesc, map[string][]string{"images": {project.URL(proj, "/1.0/images/"+fp)}}, md, time.Now().Add(imageSecretTTL))
	return asyncResp{op}
}

// pushGrant is what a spent upload token allows: one image, into one
// project, named and marked as the token's request said.
type pushGrant struct {
	project, fingerprint string
	aliases              []api.ImageAlias
	public               bool
	properties           map[string]string
	expiresAt            time.Time
}

// spendPushToken spends the upload token a request carries (X-LXD-secret
// for the image X-LXD-fingerprint): nil when it carries none, an error
// when it names no live token.
func (d *Daemon) spendPushToken(r *http.Request) (*pushGrant, error) {
	fp, secret := r.Header.Get("X-LXD-fingerprint"), r.Header.Get("X-LXD-secret")
	if fp == "" && secret == "" {
		return nil, nil
	}
	op := d.imageToken(imageUploadTokenDesc, fp, secret)
	if op == nil || !op.UseToken() {
		return nil, fmt.Errorf("no image upload token for image %q has that secret (used, expired or never made): %w", fp, apierr.ErrForbidden)
	}
	md := op.Metadata()
	g := &pushGrant{project: op.Project(), fingerprint: fp}
	g.aliases, _ = md["aliases"].([]api.ImageAlias)
	g.public, _ = md["public"].(bool)
	g.properties, _ = md["properties"].(map[string]string)
	g.expiresAt, _ = md["expires_at"].(time.Time)
	return g, nil
}

// upload is what the grant makes of an upload's own headers: the
// token's word wins, and only its image is taken.
func (g *pushGrant) upload(up image.Upload) image.Upload {
	up.Project, up.Expect, up.Public = g.project, g.fingerprint, g.public
	// Unpacked at its first launch, as a copy the target pulls is.
	up.Defer = true
	if len(g.properties) > 0 {
		up.Properties = g.properties
	}
	return up
}

// finish names and dates the pushed image as the token said.
func (g *pushGrant) finish(d *Daemon, img api.Image) error {
	for _, a := range g.aliases {
		if err := d.Images.CreateAlias(g.project, api.ImageAliasesPost{Name: a.Name, Description: a.Description, Target: img.Fingerprint}); err != nil {
			return fmt.Errorf("image %s is here, but alias %q: %w", img.Fingerprint[:12], a.Name, err)
		}
	}
	if g.expiresAt.IsZero() {
		return nil
	}
	cur, rev, err := d.Images.Get(g.project, img.Fingerprint)
	if err != nil {
		return err
	}
	return d.Images.Update(g.project, img.Fingerprint, api.ImagePut{AutoUpdate: cur.AutoUpdate, Properties: cur.Properties,
		Public: cur.Public, Profiles: cur.Profiles, ExpiresAt: g.expiresAt}, rev)
}

// imagePushPost answers POST /1.0/images/<fp>/export: this host uploads
// the image to the target with the target's token.
func imagePushPost(d *Daemon, r *http.Request) response {
	img, _, err := d.Images.Get(d.imagesProject(r), r.PathValue("fp"))
	if err != nil {
		return fail(err)
	}
	var req api.ImageExportPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if u, err := url.Parse(req.Target); err != nil || u.Scheme != "https" || u.Host == "" {
		return fail(apierr.BadRequest("target %q: give the other server's https:// address", req.Target))
	}
	if req.Secret == "" {
		return fail(apierr.BadRequest("secret: give the token the target made for this image (POST /1.0/images there, in push mode)"))
	}
	cfg, err := trust.ClientConfig(req.Certificate, nil)
	if err != nil {
		return fail(apierr.BadRequest("certificate: %v", err))
	}
	target := client.NewHTTPS(req.Target, trust.Transport(cfg))
	target.Project = req.Project
	meta, rootfs := d.Images.Files(img.Fingerprint)
	op := d.Ops.Start("Pushing image", map[string][]string{"images": {project.URL(d.imagesProject(r), "/1.0/images/"+img.Fingerprint)}}, nil,
		func(ctx context.Context, _ *operation.Op) error {
			return pushImage(ctx, target, img.Fingerprint, req.Secret, meta, rootfs)
		})
	return asyncResp{op}
}

// pushImage uploads image fp's files to target with its token, and waits
// for the target to take it.
func pushImage(ctx context.Context, target *client.Client, fp, secret, meta, rootfs string) error {
	files := []string{meta}
	if rootfs != "" {
		files = append(files, rootfs)
	}
	up, err := client.ImageUploadOf(files...)
	if err != nil {
		return err
	}
	defer up.Close()
	h := http.Header{}
	h.Set("Content-Type", up.ContentType)
	h.Set("X-LXD-fingerprint", fp)
	h.Set("X-LXD-secret", secret)
	h.Set("X-LXD-filename", filepath.Base(meta)+image.Extension(meta))
	resp, _, err := target.RawContext(ctx, "POST", "/1.0/images", up.Body, h)
	if err != nil {
		return fmt.Errorf("push image %s: %w", fp[:12], err)
	}
	var op api.Operation
	if err := json.Unmarshal(resp.Metadata, &op); err != nil {
		return fmt.Errorf("push image %s: the target's answer: %w", fp[:12], err)
	}
	waitSecret, _ := op.Metadata["secret"].(string)
	if _, err := target.WaitSecret(resp.Operation, waitSecret); err != nil {
		return fmt.Errorf("push image %s: the target: %w", fp[:12], err)
	}
	return nil
}
