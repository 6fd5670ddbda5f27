package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/client"
)

// imageRef is an image on one remote as another server is to fetch it:
// the source part of POST /1.0/images and /1.0/instances. When the image
// is on the target itself, only ref is set.
type imageRef struct {
	ref  string
	same bool
	// servers are the addresses to try, in turn; source is the rest.
	servers []string
	source  api.ImageSource
	// fingerprint and secret for an LXD-protocol remote's image; public
	// when it needs no secret (then the alias is kept).
	fingerprint, secret string
	public              bool
	image               api.Image
}

// imageForTarget finds image ref of remote from, for the target remote
// to fetch.
func imageForTarget(cfg *remotesConfig, from, ref, to string) (imageRef, error) {
	if from == "" {
		from = cfg.DefaultRemote
	}
	if to == "" {
		to = cfg.DefaultRemote
	}
	out := imageRef{ref: ref}
	if from == to {
		out.same = true
		return out, nil
	}
	r := cfg.Remotes[from]
	pem, err := os.ReadFile(cfg.serverCertPath(from))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return out, err
	}
	out.source = api.ImageSource{Protocol: "lxd", Certificate: string(pem), Alias: ref}
	if r.Protocol == "simplestreams" {
		out.source.Protocol, out.servers = "simplestreams", []string{r.Addr}
		return out, nil
	}
	c, err := cfg.connectTo(from)
	if err != nil {
		return out, err
	}
	var srv api.Server
	if _, err := c.Get("/1.0", &srv); err != nil {
		return out, err
	}
	if r.Addr != "" {
		out.servers = append(out.servers, r.Addr)
	}
	for _, a := range srv.Environment.Addresses {
		if u := "https://" + a; u != r.Addr {
			out.servers = append(out.servers, u)
		}
	}
	if len(out.servers) == 0 {
		return out, fmt.Errorf("remote %q is not listening on the network (set core.https_address there), so no other server can fetch its images", from)
	}
	if srv.Environment.Certificate != "" {
		out.source.Certificate = srv.Environment.Certificate
	}
	fp, err := resolveImage(c, ref)
	if err == nil {
		_, err = c.Get("/1.0/images/"+fp, &out.image)
	}
	if err != nil {
		return out, fmt.Errorf("image %q on remote %q: %w", ref, from, err)
	}
	out.fingerprint, out.public = out.image.Fingerprint, out.image.Public
	if !out.public {
		// A private image: the target downloads it with a secret.
		resp, _, err := c.Query("POST", "/1.0/images/"+out.fingerprint+"/secret", nil, "")
		if err != nil {
			return out, fmt.Errorf("a download secret for image %q on %q: %w", ref, from, err)
		}
		var op api.Operation
		if err := json.Unmarshal(resp.Metadata, &op); err != nil {
			return out, err
		}
		out.secret, _ = op.Metadata["secret"].(string)
		out.source.Alias = ""
	}
	return out, nil
}

// tryServers runs post against each of ref's servers in turn, as lxc
// does: the next is tried when the target could not reach this one (its
// operation says "cannot reach"), or this client could not reach the
// target; any other error ends the tries.
func (ref imageRef) tryServers(post func(server string) error) error {
	var errs []error
	for _, s := range ref.servers {
		err := post(s)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("from %s: %w", s, err))
		var answered *client.Error
		if errors.As(err, &answered) && !strings.Contains(answered.Message, "cannot reach") {
			break
		}
	}
	return errors.Join(errs...)
}

// showProgress prints an operation's download_progress, as lxc does.
func showProgress(w io.Writer, what string) (func(map[string]any), func()) {
	return showProgressOf(w, what, "download_progress")
}
