package trust

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// A pinned certificate is the only one taken; PeerCertificate shows what
// a server presents before anything is trusted.
func TestClientConfigPins(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	right := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	dir := t.TempDir()
	if _, err := ServerCert(dir); err != nil {
		t.Fatal(err)
	}
	wrong, _ := os.ReadFile(filepath.Join(dir, "server.crt"))
	get := func(pin string) error {
		cfg, err := ClientConfig(pin, nil)
		if err != nil {
			return err
		}
		resp, err := (&http.Client{Transport: Transport(cfg)}).Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(right); err != nil {
		t.Fatalf("the pinned certificate: %v", err)
	}
	if err := get(string(wrong)); !errors.Is(err, ErrCertificateChanged) {
		t.Fatalf("another certificate: %v", err)
	}
	if err := get(""); err == nil {
		t.Fatal("a self-signed certificate passed the system's CAs")
	}
	if _, err := ClientConfig("junk", nil); err == nil {
		t.Fatal("a junk pin was taken")
	}
	peer, err := PeerCertificate(context.Background(), srv.Listener.Addr().String(), nil)
	if err != nil || Fingerprint(peer.Raw) != Fingerprint(srv.Certificate().Raw) {
		t.Fatalf("PeerCertificate: %v", err)
	}
	if _, err := ClientCert(filepath.Join(dir, "client")); err != nil {
		t.Fatalf("a client certificate: %v", err)
	}
}
