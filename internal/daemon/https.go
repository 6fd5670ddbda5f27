package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/lodge-project/lodge/internal/trust"
)

// The API over HTTPS (core.https_address): TLS 1.3, the server's own
// certificate, and client certificates asked for but checked here, not by
// a CA: a client is trusted when its certificate's fingerprint is in the
// trust store. The unix socket is always trusted (its mode guards it).

type httpsState struct {
	mu   sync.Mutex
	ctx  context.Context
	cert tls.Certificate
	leaf *x509.Certificate
	// pem and fingerprint are leaf's, as GET /1.0 shows them.
	pem, fingerprint string
	server           *http.Server
	addr             string
	// conns are the TLS connections served, to close those of a client
	// whose certificate is no longer trusted (websockets included).
	conns    map[uint64]weak.Pointer[tls.Conn]
	nextConn uint64
}

// startHTTPS loads the server certificate and listens where the config
// says; a listener that cannot start is logged, as LXD does, and the
// unix socket serves on.
func (d *Daemon) startHTTPS(ctx context.Context) error {
	cert, err := trust.ServerCert(d.Dir)
	if err != nil {
		return err
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return err
	}
	d.https.mu.Lock()
	d.https.ctx, d.https.cert, d.https.leaf = ctx, cert, leaf
	d.https.pem, d.https.fingerprint = trust.PEM(leaf), trust.Fingerprint(leaf.Raw)
	d.https.mu.Unlock()
	cfg, err := d.serverConfig()
	if err != nil {
		return err
	}
	d.config.Store(&cfg)
	if err := d.listenHTTPS(cfg["core.https_address"]); err != nil {
		d.Log.Warn("the API is not served over HTTPS", "core.https_address", cfg["core.https_address"], "err", err)
	}
	if d.Zones != nil {
		if err := d.Zones.Listen(cfg["core.dns_address"]); err != nil {
			d.Log.Warn("network zones are not served", "core.dns_address", cfg["core.dns_address"], "err", err)
		}
	}
	go func() {
		<-ctx.Done()
		_ = d.listenHTTPS("")
		if d.Zones != nil {
			_ = d.Zones.Listen("")
		}
	}()
	return nil
}

// listenHTTPS serves the API on addr (closing what served before; "" is
// none).
func (d *Daemon) listenHTTPS(addr string) error {
	h := &d.https
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.server != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = h.server.Shutdown(sctx)
		cancel()
		_ = h.server.Close()
		h.server, h.addr = nil, ""
		d.dropServerInfo()
	}
	if addr == "" || h.ctx == nil || h.ctx.Err() != nil {
		return nil
	}
	ln, err := net.Listen("tcp", listenAddress(addr))
	if err != nil {
		return err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{h.cert}, ClientAuth: tls.RequestClientCert}
	if d.AllowTLS12 {
		// Asked for by the admin (lodged --allow-tls12, or LXD's
		// LXD_INSECURE_TLS): TLS 1.2 with forward-secret AEAD suites only.
		cfg.MinVersion = tls.VersionTLS12
		cfg.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}
	}
	ctx := h.ctx
	srv := &http.Server{Handler: d.Handler(), BaseContext: func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 30 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if tc, ok := c.(*tls.Conn); ok {
				d.trackConn(tc)
			}
			return context.WithValue(ctx, connTrustKey{}, &connTrust{})
		}}
	h.server, h.addr = srv, ln.Addr().String()
	d.dropServerInfo()
	go func() { _ = srv.Serve(tls.NewListener(ln, cfg)) }()
	d.Log.Info("the API is served over HTTPS", "address", h.addr)
	return nil
}

// httpsAddresses are the addresses clients reach the API at over HTTPS.
func (d *Daemon) httpsAddresses() []string {
	h := &d.https
	h.mu.Lock()
	addr := h.addr
	h.mu.Unlock()
	if addr == "" {
		return []string{}
	}
	host, port, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		return []string{addr}
	}
	var out []string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipnet, ok := a.(*net.IPNet); ok && !ipnet.IP.IsLoopback() && !ipnet.IP.IsLinkLocalUnicast() {
			out = append(out, net.JoinHostPort(ipnet.IP.String(), port))
		}
	}
	return out
}

// serverCertificate is the server's certificate, PEM, and its fingerprint.
func (d *Daemon) serverCertificate() (string, string) {
	h := &d.https
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pem, h.fingerprint
}

// trusted says whether a request comes from a trusted client: over the
// unix socket, or with a client certificate in the trust store.
func (d *Daemon) trusted(r *http.Request) bool {
	ok, _ := d.client(r)
	return ok
}

// client says whether a request comes from a trusted client, and, for
// one restricted to projects, which (nil: unrestricted).
func (d *Daemon) client(r *http.Request) (bool, []string) {
	if r.TLS == nil {
		return true, nil
	}
	if len(r.TLS.PeerCertificates) == 0 {
		return false, nil
	}
	// A connection found trusted stays so until the trust store changes
	// (a certificate edited or removed: trustGen moves on). One found
	// untrusted is asked again, as it may add its certificate and go on.
	gen := d.trustGen.Load() + 1
	ct, _ := r.Context().Value(connTrustKey{}).(*connTrust)
	if ct != nil && ct.trustedAt.Load() == gen {
		return true, ct.projects()
	}
	c, ok := d.Trust.Trusted(r.TLS.PeerCertificates[0])
	// A metrics certificate reads the metrics and nothing else
	// (metricsAllowed): it is no client.
	ok = ok && c.Type != "metrics"
	var projects []string
	if ok && c.Restricted {
		projects = append([]string{}, c.Projects...) // restricted to none: an empty, non-nil list
	}
	if ok && ct != nil {
		ct.setProjects(projects)
		ct.trustedAt.Store(gen)
	}
	return ok, projects
}

// trustChanged makes every connection's client be looked up again.
func (d *Daemon) trustChanged() { d.trustGen.Add(1) }

// connTrust is what one TLS connection's client was found to be:
// trusted at trust store generation trustedAt-1 (0: not found so), and
// restricted to which projects (nil: unrestricted).
type connTrust struct {
	trustedAt atomic.Uint64
	restrict  atomic.Pointer[[]string]
}

func (c *connTrust) projects() []string {
	if p := c.restrict.Load(); p != nil {
		return *p
	}
	return nil
}

func (c *connTrust) setProjects(p []string) {
	if p == nil {
		c.restrict.Store(nil)
		return
	}
	c.restrict.Store(&p)
}

type connTrustKey struct{}

// untrustedRoutes are what an untrusted client may ask for.
var untrustedRoutes = map[string]bool{"GET /": true, "GET /1.0": true, "POST /1.0/certificates": true}

// publicRoutes an untrusted client may ask for too, and sees only the
// public part of: public images and their aliases, and a private image
// with its secret.
var publicRoutes = map[string]bool{
	"GET /1.0/images": true, "GET /1.0/images/{fp}": true, "GET /1.0/images/{fp}/{sub}": true, "GET /1.0/images/aliases": true,
	// A websocket's secret is its key (LXD's rule): a migration's other
	// host connects with no certificate of its own.
	"GET /1.0/operations/{id}/websocket": true,
	// An image's push: the source uploads with the target's token, and
	// waits with the secret the upload's operation shows it.
	"POST /1.0/images": true, "GET /1.0/operations/{id}/wait": true,
	"GET /streams/v1/index.json": true, "GET /streams/v1/images.json": true, "GET /images/{fp}/{file}": true,
}

type trustKey struct{}

// isTrusted says whether the request's client is trusted (the handler
// wrapper decided, once).
func isTrusted(r *http.Request) bool {
	v, _ := r.Context().Value(trustKey{}).(bool)
	return v
}

// trackConn remembers a TLS connection, weakly: one closed and dropped
// goes from the list by itself.
func (d *Daemon) trackConn(c *tls.Conn) {
	h := &d.https
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conns == nil {
		h.conns = map[uint64]weak.Pointer[tls.Conn]{}
	}
	h.nextConn++
	if h.nextConn%64 == 0 {
		for id, p := range h.conns {
			if p.Value() == nil {
				delete(h.conns, id)
			}
		}
	}
	h.conns[h.nextConn] = weak.Make(c)
}

// dropConnections closes every connection of the client with the
// certificate fingerprint: a removed certificate loses its open event and
// exec websockets too, not only its next request.
func (d *Daemon) dropConnections(fingerprint string) int {
	h := &d.https
	h.mu.Lock()
	var conns []*tls.Conn
	for id, p := range h.conns {
		c := p.Value()
		if c == nil {
			delete(h.conns, id)
			continue
		}
		conns = append(conns, c)
	}
	h.mu.Unlock()
	n := 0
	for _, c := range conns {
		st := c.ConnectionState()
		if len(st.PeerCertificates) > 0 && trust.Fingerprint(st.PeerCertificates[0].Raw) == fingerprint {
			_ = c.Close()
			n++
		}
	}
	return n
}
