package cli

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/client"
)

// lodge image copy --mode push and --mode relay, for when the target
// cannot reach the source: push has the source upload to the target
// with the target's token; relay has this client download and upload.

// imageOn is an image as its own server describes it.
func imageOn(c *client.Client, ref string) (api.Image, error) {
	var img api.Image
	fp, err := resolveImage(c, ref)
	if err == nil {
		_, err = c.Get("/1.0/images/"+fp, &img)
	}
	return img, err
}

// httpsEndpoint is the address and certificate another server reaches
// remote name at: its own address in this client's config, else the
// first it listens on.
func (cfg *remotesConfig) httpsEndpoint(name string, c *client.Client) (addr, cert string, err error) {
	var srv api.Server
	if _, err := c.Get("/1.0", &srv); err != nil {
		return "", "", err
	}
	addr = cfg.Remotes[name].Addr
	if addr == "" && len(srv.Environment.Addresses) > 0 {
		addr = "https://" + srv.Environment.Addresses[0]
	}
	if addr == "" {
		return "", "", fmt.Errorf("remote %q is not listening on the network (set core.https_address there), so no other server can reach it", name)
	}
	cert = srv.Environment.Certificate
	if pem, err := os.ReadFile(cfg.serverCertPath(name)); err == nil {
		cert = string(pem)
	}
	return addr, cert, nil
}

// pushImageCopy asks the target for a token for the image, then has the
// source upload the image with it; the token goes if the push fails.
func pushImageCopy(cfg *remotesConfig, src, dst *client.Client, to string, img api.Image, req api.ImagesPost) error {
	addr, cert, err := cfg.httpsEndpoint(to, dst)
	if err != nil {
		return err
	}
	req.Source = &api.ImagesPostSource{Fingerprint: img.Fingerprint, Mode: "push"}
	req.Properties, req.ExpiresAt = img.Properties, img.ExpiresAt
	resp, _, err := dst.Query("POST", "/1.0/images", req, "")
	if err != nil {
		return fmt.Errorf("a push token from %s: %w", to, err)
	}
	var token api.Operation
	if err := json.Unmarshal(resp.Metadata, &token); err != nil {
		return err
	}
	secret, _ := token.Metadata["secret"].(string)
	push := api.ImageExportPost{Target: addr, Certificate: cert, Secret: secret, Project: dst.Project}
	if _, err := src.Do("POST", "/1.0/images/"+img.Fingerprint+"/export", push, ""); err != nil {
		_, _, _ = dst.Query("DELETE", resp.Operation, nil, "")
		return err
	}
	return nil
}

// relayImageCopy downloads the image's files here and uploads them to
// the target, then gives it the aliases asked for.
func relayImageCopy(src, dst *client.Client, img api.Image, req api.ImagesPost) error {
	tmp, err := os.MkdirTemp("", "lodge-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	body, header, err := src.GetRawWithHeader("/1.0/images/" + img.Fingerprint + "/export")
	if err != nil {
		return err
	}
	files, err := writeExport(body, header.Get("Content-Type"), header.Get("Content-Disposition"), tmp, img.Fingerprint)
	body.Close()
	if err != nil {
		return err
	}
	fp, err := uploadImage(dst, files, req.Public)
	if err != nil {
		return err
	}
	if fp != img.Fingerprint {
		return fmt.Errorf("the target made image %s of image %s", fp, img.Fingerprint)
	}
	for _, a := range req.Aliases {
		if _, _, err := dst.Query("POST", "/1.0/images/aliases", api.ImageAliasesPost{Name: a.Name, Description: a.Description, Target: fp}, ""); err != nil {
			return fmt.Errorf("image %s is copied, but alias %q: %w", fp[:12], a.Name, err)
		}
	}
	return nil
}
