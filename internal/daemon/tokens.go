package daemon

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/cron"
	"github.com/lodge-project/lodge/internal/operation"
	"github.com/lodge-project/lodge/internal/trust"
)

// Trust tokens (lxc config trust add, lxc remote add TOKEN): a trusted
// client asks for one; it is a token operation holding a secret, the
// server's fingerprint and addresses, which the client hands on as one
// base64 string. The new client sends that string as its password; the
// operation is spent on the first use and ends at core.remote_token_expiry.

const tokenDescription = "Certificate add token"

// addToken is LXD's api.CertificateAddToken, the string a token is.
type addToken struct {
	ClientName  string    `json:"client_name"`
	Fingerprint string    `json:"fingerprint"`
	Addresses   []string  `json:"addresses"`
	Secret      string    `json:"secret"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// issueToken starts the token operation for req (a trusted client's).
func (d *Daemon) issueToken(req api.CertificatesPost) response {
	if req.Certificate != "" {
		return fail(apierr.BadRequest("a token is for a client yet to come: give no certificate with it"))
	}
	if req.Type != "" && req.Type != "client" {
		return fail(apierr.BadRequest("tokens are issued for client certificates only"))
	}
	if err := errors.Join(trust.CheckRestriction(req.CertificatePut), d.checkCertProjects(req.CertificatePut)); err != nil {
		return fail(err)
	}
	addresses := d.httpsAddresses()
	if len(addresses) == 0 {
		return fail(apierr.BadRequest("the server is not listening on the network: set core.https_address first"))
	}
	cfg, err := d.serverConfig()
	if err != nil {
		return fail(err)
	}
	var expires time.Time
	if v := cfg["core.remote_token_expiry"]; v != "" {
		dur, err := cron.ParseExpiry(v)
		if err != nil {
			return fail(err)
		}
		expires = time.Now().Add(dur)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return fail(err)
	}
	_, fingerprint := d.serverCertificate()
	req.Type = "client"
	meta := map[string]any{
		"request":     map[string]any{"name": req.Name, "type": req.Type, "restricted": req.Restricted, "projects": req.Projects},
		"fingerprint": fingerprint, "addresses": addresses, "secret": hex.EncodeToString(secret),
	}
	if !expires.IsZero() {
		meta["expiresAt"] = expires.UTC().Format(time.RFC3339Nano)
	}
	op := d.Ops.StartToken(tokenDescription, nil, meta, expires)
	return asyncResp{op}
}

// spendToken finds the token operation a client's password is the token
// of, and spends it; nil when the password is no live token.
func (d *Daemon) spendToken(password string) *api.CertificatePut {
	raw, err := base64.StdEncoding.DecodeString(password)
	if err != nil {
		return nil
	}
	var tok addToken
	if json.Unmarshal(raw, &tok) != nil || tok.Secret == "" {
		return nil
	}
	for _, op := range d.Ops.List() {
		if op.Class() != operation.ClassToken {
			continue
		}
		md := op.Metadata()
		if _, trustToken := md["request"]; !trustToken {
			continue // an image secret, say: no way in
		}
		secret, _ := md["secret"].(string)
		if subtle.ConstantTimeCompare([]byte(secret), []byte(tok.Secret)) != 1 || !op.UseToken() {
			continue
		}
		req, _ := md["request"].(map[string]any)
		put := &api.CertificatePut{Type: "client"}
		put.Name, _ = req["name"].(string)
		put.Restricted, _ = req["restricted"].(bool)
		if projects, ok := req["projects"].([]string); ok {
			put.Projects = projects
		}
		return put
	}
	return nil
}
