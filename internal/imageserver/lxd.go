package imageserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
)

// LXD's protocol: another LXD or Lodge server's REST API, reached as an
// untrusted client (public images, or a private one with its secret), as
// LXD's own daemon reaches it.

type lxdSource struct {
	base   string
	secret string
	// project is the source's project the image is in ("": its default).
	project string
	http    *http.Client
}

// OpenLXD opens an LXD or Lodge server at server (https://host:port).
func OpenLXD(server string, opts Options) (Source, error) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, apierr.BadRequest("%q is not an https:// address", server)
	}
	t, err := transportFor(opts.Certificate, opts.ClientCert)
	if err != nil {
		return nil, apierr.BadRequest("%v", err)
	}
	return &lxdSource{base: strings.TrimSuffix(server, "/"), secret: opts.Secret, project: opts.Project,
		http: &http.Client{Transport: t}}, nil
}

var fingerprintRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (s *lxdSource) Find(ctx context.Context, ref, imageType string) (Found, error) {
	fp := ref
	// An alias first, as LXD resolves one; a fingerprint is no alias.
	var alias api.ImageAliasesEntry
	if err := s.get(ctx, "/1.0/images/aliases/"+url.PathEscape(ref)+s.inProject(), &alias); err == nil && alias.Target != "" {
		if imageType != "" && alias.Type != "" && alias.Type != imageType {
			return Found{}, apierr.NotFound("alias %q on %s names a %s image, not a %s", ref, s.base, alias.Type, imageType)
		}
		fp = alias.Target
	} else if err != nil && !errors.Is(err, apierr.ErrNotFound) {
		return Found{}, err
	}
	var img api.Image
	if err := s.get(ctx, "/1.0/images/"+url.PathEscape(fp)+s.query(), &img); err != nil {
		if errors.Is(err, apierr.ErrNotFound) {
			return Found{}, apierr.NotFound("image %q not found on %s (a private image needs a secret)", ref, s.base)
		}
		return Found{}, err
	}
	if !fingerprintRE.MatchString(img.Fingerprint) {
		return Found{}, fmt.Errorf("%s describes image %q with a malformed fingerprint %q", s.base, ref, img.Fingerprint)
	}
	if imageType != "" && img.Type != "" && img.Type != imageType {
		return Found{}, apierr.NotFound("image %q on %s is a %s image, not a %s", ref, s.base, img.Type, imageType)
	}
	return Found{Fingerprint: img.Fingerprint, Image: img}, nil
}

func (s *lxdSource) Fetch(ctx context.Context, f Found) (Files, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", s.base+"/1.0/images/"+f.Fingerprint+"/export"+s.query(), nil)
	if err != nil {
		return Files{}, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return Files{}, fmt.Errorf("cannot reach %s: %w", s.base, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return Files{}, s.errorOf(resp)
	}
	ctype, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if ctype != "multipart/form-data" {
		return Files{Unified: resp.Body, Size: resp.ContentLength, Close: resp.Body.Close}, nil
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	return Files{
		Meta:   &partReader{mr: mr, names: []string{"metadata"}},
		Rootfs: &partReader{mr: mr, names: []string{"rootfs"}},
		Close:  resp.Body.Close,
	}, nil
}

// partReader reads the next part of a multipart download, which must
// have one of names; it is opened at the first read, so the parts are
// read in turn.
type partReader struct {
	mr    *multipart.Reader
	names []string
	part  *multipart.Part
}

func (p *partReader) Read(b []byte) (int, error) {
	if p.part == nil {
		part, err := p.mr.NextPart()
		if err != nil {
			return 0, fmt.Errorf("the image download ended before its %s part: %w", p.names[0], err)
		}
		ok := false
		for _, n := range p.names {
			ok = ok || part.FormName() == n
		}
		if !ok {
			return 0, fmt.Errorf("the image download has a part %q where %q was expected", part.FormName(), p.names[0])
		}
		p.part = part
	}
	return p.part.Read(b)
}

// query is the secret and project of requests for the image.
func (s *lxdSource) query() string {
	v := url.Values{}
	if s.secret != "" {
		v.Set("secret", s.secret)
	}
	if s.project != "" {
		v.Set("project", s.project)
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

// inProject is the project of requests that need no secret.
func (s *lxdSource) inProject() string {
	if s.project == "" {
		return ""
	}
	return "?project=" + url.QueryEscape(s.project)
}

// get reads a sync response's metadata into out.
func (s *lxdSource) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", s.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach %s: %w", s.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s.errorOf(resp)
	}
	var env api.Response
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&env); err != nil {
		return fmt.Errorf("%s: unreadable answer to %s: %w", s.base, path, err)
	}
	return json.Unmarshal(env.Metadata, out)
}

// errorOf turns an error answer into an error with the server's message.
func (s *lxdSource) errorOf(resp *http.Response) error {
	var env api.Response
	msg := resp.Status
	if json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&env) == nil && env.Error != "" {
		msg = env.Error
	}
	if resp.StatusCode == http.StatusNotFound {
		return apierr.NotFound("%s: %s", s.base, msg)
	}
	return fmt.Errorf("%s answered %d: %s", s.base, resp.StatusCode, msg)
}
