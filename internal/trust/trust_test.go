package trust

import (
	"crypto/x509"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/store"
)

// The server certificate is made once and loaded after; the trust store
// finds certificates by unique fingerprint prefix, refuses duplicates,
// restrictions and changes of the certificate itself.
func TestCertificatesAndStore(t *testing.T) {
	dir := t.TempDir()
	first, err := ServerCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ServerCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	if Fingerprint(first.Certificate[0]) != Fingerprint(again.Certificate[0]) {
		t.Fatal("the server certificate was made again")
	}
	leaf, _ := x509.ParseCertificate(first.Certificate[0])
	if leaf.Subject.Organization[0] != "Lodge" || len(leaf.IPAddresses) < 2 {
		t.Fatalf("the server certificate: %v %v", leaf.Subject, leaf.IPAddresses)
	}
	// Two client certificates: server certificates of two other dirs.
	clients := make([]*x509.Certificate, 2)
	for i := range clients {
		c, err := ServerCert(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		clients[i], _ = x509.ParseCertificate(c.Certificate[0])
	}
	db, err := store.Open(filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := NewStore(db)
	rec, err := s.Add(clients[0], api.CertificatePut{Name: "one"})
	if err != nil || rec.Type != "client" || !strings.HasPrefix(rec.Certificate, "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("add: %+v %v", rec, err)
	}
	if _, err := s.Add(clients[0], api.CertificatePut{}); err == nil {
		t.Fatal("a certificate was trusted twice")
	}
	if _, err := s.Add(clients[1], api.CertificatePut{Projects: []string{"p"}}); err == nil {
		t.Fatal("projects were taken for an unrestricted certificate")
	}
	if _, err := s.Add(clients[1], api.CertificatePut{Type: "server"}); err == nil {
		t.Fatal("a server certificate type was taken")
	}
	if _, ok := s.Trusted(clients[1]); ok {
		t.Fatal("an unknown certificate is trusted")
	}
	if got, ok := s.Trusted(clients[0]); !ok || got.Name != "one" {
		t.Fatalf("trusted: %+v %v", got, ok)
	}
	if got, err := s.Get(rec.Fingerprint[:8]); err != nil || got.Fingerprint != rec.Fingerprint {
		t.Fatalf("get by prefix: %+v %v", got, err)
	}
	if _, err := s.Get(""); err == nil {
		t.Fatal("an empty prefix found a certificate")
	}
	other := PEM(clients[1])
	if err := s.Update(rec.Fingerprint, api.CertificatePut{Name: "renamed", Certificate: other}, 0); err == nil {
		t.Fatal("a record's certificate was swapped")
	}
	_, rev, err := s.GetWithRevision(rec.Fingerprint[:8])
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(rec.Fingerprint, api.CertificatePut{Name: "renamed"}, rev); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(rec.Fingerprint, api.CertificatePut{Name: "stale"}, rev); !errors.Is(err, apierr.ErrPreconditionFailed) {
		t.Fatalf("an update on a stale revision: %v", err)
	}
	if err := s.Delete(rec.Fingerprint); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Trusted(clients[0]); ok {
		t.Fatal("a deleted certificate is trusted")
	}
}

func TestPasswords(t *testing.T) {
	h, err := HashPassword("sesame")
	if err != nil {
		t.Fatal(err)
	}
	if !CheckPassword(h, "sesame") || CheckPassword(h, "Sesame") || CheckPassword(h, "") || CheckPassword("sesame", "sesame") {
		t.Fatal("password check")
	}
	if h2, _ := HashPassword("sesame"); h2 == h {
		t.Fatal("two hashes of one password are alike: no salt")
	}
}
