package daemon

import (
	"crypto/x509"
	"net/http"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/trust"
)

// The trust store (/1.0/certificates, lxc config trust ...): trusted
// clients list, add, edit and remove certificates; an untrusted client
// adds its own with the trust password (lxc remote add).

func certificateURL(fp string) string { return "/1.0/certificates/" + fp }

func certificatesGet(d *Daemon, r *http.Request) response {
	certs, err := d.Trust.List()
	if err != nil {
		return fail(err)
	}
	if recursion(r) > 0 {
		return ok(certs)
	}
	urls := make([]string, 0, len(certs))
	for _, c := range certs {
		urls = append(urls, certificateURL(c.Fingerprint))
	}
	return ok(urls)
}

// wrongPasswordDelay slows down guessing the trust password.
const wrongPasswordDelay = 500 * time.Millisecond

func certificatesPost(d *Daemon, r *http.Request) response {
	var req api.CertificatesPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	trusted := d.trusted(r)
	if req.Token {
		if !trusted {
			return fail(apierr.ErrForbidden)
		}
		return d.issueToken(req)
	}
	var peer *x509.Certificate
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		peer = r.TLS.PeerCertificates[0]
	}
	cert := peer
	if req.Certificate != "" {
		c, err := trust.ParseCertificate(req.Certificate)
		if err != nil {
			return fail(apierr.BadRequest("the certificate: %v", err))
		}
		if !trusted && (peer == nil || trust.Fingerprint(c.Raw) != trust.Fingerprint(peer.Raw)) {
			return fail(apierr.ErrForbidden) // an untrusted client adds only its own
		}
		cert = c
	}
	if cert == nil {
		return fail(apierr.BadRequest("no certificate: give one, or connect with the client certificate to trust"))
	}
	if !trusted {
		if put := d.spendToken(req.Password); put != nil {
			// The token's request says what is trusted, not the client.
			req.CertificatePut = *put
		} else if err := d.checkTrustPassword(r, cert, req.Password); err != nil {
			return fail(err)
		}
	}
	if err := d.checkCertProjects(req.CertificatePut); err != nil {
		return fail(err)
	}
	rec, err := d.Trust.Add(cert, req.CertificatePut)
	if err != nil {
		return fail(err)
	}
	d.Log.Info("certificate trusted", "name", rec.Name, "fingerprint", rec.Fingerprint, "by", r.RemoteAddr)
	return syncResp{metadata: map[string]any{}, location: certificateURL(rec.Fingerprint), status: http.StatusCreated}
}

func certificateGet(d *Daemon, r *http.Request) response {
	c, rev, err := d.Trust.GetWithRevision(r.PathValue("fp"))
	if err != nil {
		return fail(err)
	}
	return okETag(c, rev)
}

func certificatePut(d *Daemon, r *http.Request) response {
	c, err := d.Trust.Get(r.PathValue("fp"))
	if err != nil {
		return fail(err)
	}
	rev, err := ifMatch(r)
	if err != nil {
		return fail(err)
	}
	put := c.CertificatePut
	if r.Method == http.MethodPut {
		put = api.CertificatePut{}
	}
	if err := decode(r, &put); err != nil {
		return fail(err)
	}
	if err := d.checkCertProjects(put); err != nil {
		return fail(err)
	}
	if err := d.Trust.Update(c.Fingerprint, put, rev); err != nil {
		return fail(err)
	}
	d.trustChanged()
	return empty()
}

func certificateDelete(d *Daemon, r *http.Request) response {
	c, err := d.Trust.Get(r.PathValue("fp"))
	if err != nil {
		return fail(err)
	}
	if err := d.Trust.Delete(c.Fingerprint); err != nil {
		return fail(err)
	}
	d.trustChanged()
	d.Log.Info("certificate no longer trusted", "name", c.Name, "fingerprint", c.Fingerprint)
	// In the background: a connection still in its handshake holds its
	// state until the handshake ends.
	go func() {
		if n := d.dropConnections(c.Fingerprint); n > 0 {
			d.Log.Info("closed the connections of a certificate no longer trusted", "fingerprint", c.Fingerprint, "connections", n)
		}
	}()
	return empty()
}

// checkTrustPassword refuses a wrong trust password (or none set), slowly.
func (d *Daemon) checkTrustPassword(r *http.Request, cert *x509.Certificate, password string) error {
	cfg, err := d.serverConfig()
	if err != nil {
		return err
	}
	if hash := cfg["core.trust_password"]; hash == "" || !trust.CheckPassword(hash, password) {
		d.Log.Warn("a client gave a wrong trust password or token", "remote", r.RemoteAddr, "fingerprint", trust.Fingerprint(cert.Raw))
		time.Sleep(wrongPasswordDelay)
		return apierr.ErrForbidden
	}
	return nil
}

// checkCertProjects refuses a restriction to a project that does not
// exist.
func (d *Daemon) checkCertProjects(put api.CertificatePut) error {
	for _, p := range put.Projects {
		if !d.Projects.Exists(p) {
			return apierr.BadRequest("project %q does not exist", p)
		}
	}
	return nil
}
