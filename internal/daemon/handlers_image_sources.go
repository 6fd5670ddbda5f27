package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/image"
	"github.com/lodge-project/lodge/internal/imageserver"
	"github.com/lodge-project/lodge/internal/operation"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/validate"
)

// POST /1.0/images with a JSON body: an image from another server
// (lxc image copy), or from an instance or snapshot (lxc publish).

func imagesPostJSON(d *Daemon, r *http.Request) response {
	var req api.ImagesPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if req.Source == nil {
		return fail(apierr.BadRequest("source is missing: an image (from a server), an instance or a snapshot"))
	}
	for _, a := range req.Aliases {
		if err := validate.AliasName(a.Name); err != nil {
			return fail(err)
		}
		if _, _, err := d.Images.GetAlias(d.imagesProject(r), a.Name); err == nil {
			return fail(apierr.Conflict("alias %q already exists", a.Name))
		}
	}
	if req.Source.Mode == "push" {
		return imagePushToken(d, r, req)
	}
	switch req.Source.Type {
	case "image":
		return imagePull(d, r, req)
	case "instance", "container", "virtual-machine", "snapshot":
		return imagePublish(d, r, req)
	case "url":
		return fail(apierr.BadRequest("images from a plain URL are not supported: add the server as a remote (lxd or simplestreams)"))
	}
	return fail(apierr.BadRequest("source type %q is not one of image, instance, snapshot", req.Source.Type))
}

func imagePull(d *Daemon, r *http.Request, req api.ImagesPost) response {
	src := req.Source
	if src.Server == "" {
		return fail(apierr.BadRequest("source.server: give the server to copy the image from"))
	}
	ref := src.Fingerprint
	if ref == "" {
		ref = src.Alias
	}
	if ref == "" {
		return fail(apierr.BadRequest("source: give the image's fingerprint or alias"))
	}
	if _, err := d.Images.Servers.Open(src.Protocol, src.Server, imageserver.Options{Certificate: src.Certificate}); err != nil {
		return fail(err)
	}
	// The copy's own profiles (later LXD's image_copy_profile; lodge
	// image copy --profile), which must be here; none given, it gets the
	// default.
	profProj := d.profilesProject(r)
	for _, p := range req.Profiles {
		if _, _, err := d.Instances.Profile(project.StoreKey(profProj, p)); err != nil {
			return fail(apierr.BadRequest("profile %q: %v", p, err))
		}
	}
	proj := d.imagesProject(r)
	op := d.Ops.Start("Downloading image", map[string][]string{"images": {project.URL(d.imagesProject(r), "/1.0/images")}}, nil, func(ctx context.Context, op *operation.Op) error {
		img, err := d.Images.Pull(ctx, image.Pull{Project: proj, Source: src.ImageSource, Ref: ref,
			Options: imageserver.Options{Certificate: src.Certificate, Secret: src.Secret, Project: src.Project},
			Public:  req.Public, AutoUpdate: req.AutoUpdate, Progress: downloadProgress(op),
			// A copy is unpacked at its first launch, as LXD's is.
			Defer: true})
		if err != nil {
			return err
		}
		if req.Profiles != nil {
			if err := d.setImageProfiles(proj, img.Fingerprint, req.Profiles); err != nil {
				return fmt.Errorf("image %s is there, but its profiles: %w", img.Fingerprint[:12], err)
			}
		}
		return d.imageCreated(op, proj, img, req.Aliases)
	})
	return asyncResp{op}
}

// setImageProfiles gives image fp of project proj the profiles its
// instances get when they name none.
func (d *Daemon) setImageProfiles(proj, fp string, profiles []string) error {
	cur, rev, err := d.Images.Get(proj, fp)
	if err != nil {
		return err
	}
	put := api.ImagePut{AutoUpdate: cur.AutoUpdate, Properties: cur.Properties, Public: cur.Public, Profiles: profiles, ExpiresAt: cur.ExpiresAt}
	return d.Images.Update(proj, fp, put, rev)
}

// downloadProgress shows a download's progress as LXD clients read it.
func downloadProgress(op *operation.Op) func(string) {
	return func(text string) { op.SetMetadata(map[string]any{"download_progress": text}) }
}

// imageCreated names a new image with its aliases and tells the
// operation's watchers what it is.
func (d *Daemon) imageCreated(op *operation.Op, proj string, img api.Image, aliases []api.ImageAlias) error {
	for _, a := range aliases {
		err := d.Images.CreateAlias(proj, api.ImageAliasesPost{Name: a.Name, Description: a.Description, Target: img.Fingerprint})
		if err != nil {
			return fmt.Errorf("image %s is there, but alias %q: %w", img.Fingerprint[:12], a.Name, err)
		}
	}
	op.SetMetadata(map[string]any{"fingerprint": img.Fingerprint, "size": img.Size})
	d.Bus.Lifecycle("image-created", "/1.0/images/"+img.Fingerprint, nil)
	return nil
}

func imagePublish(d *Daemon, r *http.Request, req api.ImagesPost) response {
	name, snap, _ := strings.Cut(req.Source.Name, "/")
	if name == "" || (req.Source.Type == "snapshot") != (snap != "") {
		return fail(apierr.BadRequest("source.name %q: give an instance, or instance/snapshot for a snapshot", req.Source.Name))
	}
	proj := d.imagesProject(r)
	key := project.StoreKey(proj, name)
	if _, _, err := d.Instances.Get(key); err != nil {
		return fail(err)
	}
	compression := req.CompressionAlgorithm
	if compression == "" {
		compression = d.configValue("images.compression_algorithm", "gzip")
	}
	op := d.Ops.Start("Creating image", resources(name), nil, func(ctx context.Context, op *operation.Op) error {
		id := make([]byte, 8)
		_, _ = rand.Read(id)
		tmp := filepath.Join(d.Dir, "images", ".publish-"+hex.EncodeToString(id))
		defer os.Remove(tmp)
		if err := d.Instances.Publish(ctx, key, snap, compression, tmp, req.Properties); err != nil {
			return err
		}
		f, err := os.Open(tmp)
		if err != nil {
			return err
		}
		defer f.Close()
		img, err := d.Images.Import(ctx, image.Upload{Project: proj, Unified: f, Filename: req.Filename, Public: req.Public, Properties: req.Properties})
		if err != nil {
			return err
		}
		return d.imageCreated(op, proj, img, req.Aliases)
	})
	return asyncResp{op}
}

// imageRefreshPost (lxc image refresh) refreshes an image from its
// source now.
func imageRefreshPost(d *Daemon, r *http.Request) response {
	proj := d.imagesProject(r)
	img, _, err := d.Images.Get(proj, r.PathValue("fp"))
	if err != nil {
		return fail(err)
	}
	op := d.Ops.Start("Refreshing image", map[string][]string{"images": {project.URL(d.imagesProject(r), "/1.0/images/"+img.Fingerprint)}}, nil,
		func(ctx context.Context, op *operation.Op) error {
			fp, err := d.Images.Refresh(ctx, proj, img.Fingerprint, downloadProgress(op))
			if err != nil {
				return err
			}
			op.SetMetadata(map[string]any{"refreshed": fp != img.Fingerprint, "fingerprint": fp})
			if fp != img.Fingerprint {
				d.Bus.Lifecycle("image-refreshed", "/1.0/images/"+fp, nil)
			}
			return nil
		})
	return asyncResp{op}
}
