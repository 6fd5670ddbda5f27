package daemon

import (
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/operation"
)

// What an untrusted client sees of images: the public ones, and a private
// one to whoever has its secret. A secret (POST /1.0/images/<fp>/secret,
// as LXD's) is a token operation; describing the image does not spend it,
// downloading the image does, so a secret is good for one download.

func publicOnly(imgs []api.Image) []api.Image {
	out := make([]api.Image, 0, len(imgs))
	for _, img := range imgs {
		if img.Public {
			out = append(out, img)
		}
	}
	return out
}

// publicAliases are those of aliases that name a public image.
func (d *Daemon) publicAliases(proj string, aliases []api.ImageAliasesEntry) []api.ImageAliasesEntry {
	out := make([]api.ImageAliasesEntry, 0, len(aliases))
	for _, a := range aliases {
		if img, _, err := d.Images.Get(proj, a.Target); err == nil && img.Public {
			out = append(out, a)
		}
	}
	return out
}

// visibleImage is the image the request names, when its client may see
// it; download spends the secret that lets an untrusted client see a
// private image.
func (d *Daemon) visibleImage(r *http.Request, download bool) (api.Image, uint64, error) {
	img, rev, err := d.Images.Get(d.imagesProject(r), r.PathValue("fp"))
	if err != nil || img.Public || isTrusted(r) {
		return img, rev, err
	}
	if op := d.imageToken(imageDownloadTokenDesc, img.Fingerprint, r.URL.Query().Get("secret")); op != nil && (!download || op.UseToken()) {
		return img, rev, nil
	}
	// As LXD: a private image is not there for an untrusted client.
	return api.Image{}, 0, apierr.NotFound("image %q", r.PathValue("fp"))
}

// imageToken is the live token operation of kind desc (a download or an
// upload token) for image fp whose secret is the one given.
func (d *Daemon) imageToken(desc, fp, secret string) *operation.Op {
	if secret == "" {
		return nil
	}
	for _, op := range d.Ops.List() {
		if op.Class() != operation.ClassToken || !op.Running() || op.Render().Description != desc || !tokenForImage(op, fp) {
			continue
		}
		if s, _ := op.Metadata()["secret"].(string); subtle.ConstantTimeCompare([]byte(s), []byte(secret)) == 1 {
			return op
		}
	}
	return nil
}

// tokenForImage says whether op is about image fp, in whichever project.
func tokenForImage(op *operation.Op, fp string) bool {
	for _, u := range op.Resources()["images"] {
		if path, _, _ := strings.Cut(u, "?"); path == "/1.0/images/"+fp {
			return true
		}
	}
	return false
}

// imageSecretTTL bounds a secret nobody used: LXD's live until used.
const imageSecretTTL = 24 * time.Hour

// imageSecretPost makes a secret for one download of a private image.
func imageSecretPost(d *Daemon, r *http.Request) response {
	img, _, err := d.Images.Get(d.imagesProject(r), r.PathValue("fp"))
	if err != nil {
		return fail(err)
	}
	op := d.Ops.StartToken(imageDownloadTokenDesc, map[string][]string{"images": {"/1.0/images/" + img.Fingerprint}},
		map[string]any{"secret": newSecret()}, time.Now().Add(imageSecretTTL))
	return asyncResp{op}
}

// imageSubPost dispatches POST /1.0/images/<fp>/<sub>, which as a mux
// pattern overlaps the aliases' POST /1.0/images/aliases/<name>.
func imageSubPost(d *Daemon, r *http.Request) response {
	if r.PathValue("fp") == "aliases" {
		r.SetPathValue("name", r.PathValue("sub"))
		return aliasPost(d, r)
	}
	switch r.PathValue("sub") {
	case "secret":
		return imageSecretPost(d, r)
	case "refresh":
		return imageRefreshPost(d, r)
	case "export":
		return imagePushPost(d, r)
	}
	return fail(notFoundOrMethod(r))
}
