package imageserver

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"net/http"
	"sync"

	"github.com/lodge-project/lodge/internal/trust"
)

// A server asked again (the next image copy from it, a refresh, an
// index read at each launch) reuses the connections of the last time
// rather than making a TLS handshake each time: one transport per
// server certificate and client certificate, a few of them kept.

const keptTransports = 16

var transports struct {
	sync.Mutex
	m map[string]*http.Transport
}

// transportFor is the transport that trusts serverPEM (empty: the
// system's CAs) and presents clientCert (nil: none).
func transportFor(serverPEM string, clientCert *tls.Certificate) (*http.Transport, error) {
	h := sha256.New()
	h.Write([]byte(serverPEM))
	if clientCert != nil {
		for _, c := range clientCert.Certificate {
			h.Write([]byte{0})
			h.Write(c)
		}
	}
	key := hex.EncodeToString(h.Sum(nil))
	transports.Lock()
	defer transports.Unlock()
	if t := transports.m[key]; t != nil {
		return t, nil
	}
	cfg, err := trust.ClientConfig(serverPEM, clientCert)
	if err != nil {
		return nil, err
	}
	if transports.m == nil || len(transports.m) >= keptTransports {
		// Many servers: start over (the old ones' idle connections close).
		for _, t := range transports.m {
			t.CloseIdleConnections()
		}
		transports.m = map[string]*http.Transport{}
	}
	t := trust.Transport(cfg)
	transports.m[key] = t
	return t, nil
}
