package trust

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// The client side of TLS, for lodge talking to remotes and for lodged
// downloading images from other servers.

// ErrCertificateChanged is a server presenting another certificate than
// the one remembered for it.
var ErrCertificateChanged = errors.New("the server's certificate changed")

// ClientConfig is the TLS configuration to reach a server. With serverPEM,
// the server must present exactly that certificate (LXD's and Lodge's are
// self-signed: the pin is the trust, as lxc keeps it in servercerts/);
// without it, the system's CAs verify the server. cert, when given, is the
// client certificate offered.
func ClientConfig(serverPEM string, cert *tls.Certificate) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	if serverPEM == "" {
		return cfg, nil
	}
	pinned, err := ParseCertificate(serverPEM)
	if err != nil {
		return nil, fmt.Errorf("the server certificate: %w", err)
	}
	// Names are not checked: the certificate is, byte for byte.
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the server presented no certificate")
		}
		if got := cs.PeerCertificates[0]; !bytes.Equal(got.Raw, pinned.Raw) {
			return fmt.Errorf("%w: it is %s now, and %s was accepted before", ErrCertificateChanged,
				Fingerprint(got.Raw)[:12], Fingerprint(pinned.Raw)[:12])
		}
		return nil
	}
	return cfg, nil
}

// Timeouts to a server: an unreachable one is an error within these, not
// a hang. A body may take long; its headers may not.
const (
	dialTimeout     = 10 * time.Second
	headerTimeout   = 60 * time.Second
	keepAliveIdle   = 90 * time.Second
	handshakeTimout = 10 * time.Second
)

// Transport is an HTTP transport over cfg with the timeouts above.
func Transport(cfg *tls.Config) *http.Transport {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           d.DialContext,
		TLSClientConfig:       cfg,
		TLSHandshakeTimeout:   handshakeTimout,
		ResponseHeaderTimeout: headerTimeout,
		IdleConnTimeout:       keepAliveIdle,
		ForceAttemptHTTP2:     false,
	}
}

// PeerCertificate connects to addr (host:port) and returns the
// certificate the server presents, unverified: what a user is asked to
// accept on first contact.
func PeerCertificate(ctx context.Context, addr string, cert *tls.Certificate) (*x509.Certificate, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: dialTimeout}, Config: cfg}
	ctx, cancel := context.WithTimeout(ctx, dialTimeout+handshakeTimout)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w", addr, err)
	}
	defer c.Close()
	certs := c.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s presented no certificate", addr)
	}
	return certs[0], nil
}
