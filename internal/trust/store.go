package trust

import (
	"crypto/x509"
	"sort"
	"strings"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/store"
)

// Certificate types a client certificate may have.
var certificateTypes = map[string]bool{"client": true, "metrics": true}

// Store is the trust store: the client certificates trusted, by
// fingerprint, in the state database.
type Store struct {
	db *store.Store
}

// NewStore is the trust store in db.
func NewStore(db *store.Store) *Store { return &Store{db: db} }

// Trusted returns the record of a client certificate, if it is trusted.
func (s *Store) Trusted(c *x509.Certificate) (api.Certificate, bool) {
	rec, _, err := store.Get[api.Certificate](s.db, store.Certificates, Fingerprint(c.Raw))
	return rec, err == nil
}

// List lists the trusted certificates by fingerprint.
func (s *Store) List() ([]api.Certificate, error) {
	out, err := store.List[api.Certificate](s.db, store.Certificates)
	sort.Slice(out, func(i, j int) bool { return out[i].Fingerprint < out[j].Fingerprint })
	return out, err
}

// Get finds a certificate by its fingerprint or a prefix of it that names
// one alone, as lxc config trust does.
func (s *Store) Get(prefix string) (api.Certificate, error) {
	c, _, err := s.GetWithRevision(prefix)
	return c, err
}

// GetWithRevision is Get with the record's revision (its ETag).
func (s *Store) GetWithRevision(prefix string) (api.Certificate, uint64, error) {
	var found []api.Certificate
	var rev uint64
	err := s.db.View(func(tx *store.Tx) error {
		for _, k := range tx.KeysWithPrefix(store.Certificates, strings.ToLower(prefix)) {
			var c api.Certificate
			r, err := tx.Get(store.Certificates, k, &c)
			if err != nil {
				return err
			}
			found, rev = append(found, c), r
		}
		return nil
	})
	switch {
	case err != nil:
		return api.Certificate{}, 0, err
	case prefix == "" || len(found) == 0:
		return api.Certificate{}, 0, apierr.NotFound("certificate %q", prefix)
	case len(found) > 1:
		return api.Certificate{}, 0, apierr.BadRequest("certificate fingerprint %q is ambiguous: give more of it", prefix)
	}
	return found[0], rev, nil
}

// Add trusts a certificate.
func (s *Store) Add(c *x509.Certificate, put api.CertificatePut) (api.Certificate, error) {
	rec, err := record(c, put)
	if err != nil {
		return rec, err
	}
	err = s.db.Update(func(tx *store.Tx) error {
		if tx.Exists(store.Certificates, rec.Fingerprint) {
			return apierr.Conflict("the certificate is already trusted (%s)", rec.Fingerprint[:12])
		}
		return tx.Create(store.Certificates, rec.Fingerprint, rec)
	})
	return rec, err
}

// Update replaces a certificate's editable fields; the certificate
// itself may not change. ifRev, when not 0, is the revision the change
// was made on (If-Match): a newer one refuses it.
func (s *Store) Update(fingerprint string, put api.CertificatePut, ifRev uint64) error {
	return s.db.Update(func(tx *store.Tx) error {
		var old api.Certificate
		if _, err := tx.Get(store.Certificates, fingerprint, &old); err != nil {
			return apierr.NotFound("certificate %q", fingerprint)
		}
		if put.Certificate != "" {
			c, err := ParseCertificate(put.Certificate)
			if err != nil || Fingerprint(c.Raw) != fingerprint {
				return apierr.BadRequest("a certificate record's certificate cannot change: trust the new one and remove the old")
			}
		}
		c, _ := ParseCertificate(old.Certificate)
		rec, err := record(c, put)
		if err != nil {
			return err
		}
		_, err = tx.Put(store.Certificates, fingerprint, rec, ifRev)
		return err
	})
}

// Delete stops trusting a certificate.
func (s *Store) Delete(fingerprint string) error {
	return s.db.Update(func(tx *store.Tx) error {
		if !tx.Exists(store.Certificates, fingerprint) {
			return apierr.NotFound("certificate %q", fingerprint)
		}
		return tx.Delete(store.Certificates, fingerprint)
	})
}

// record checks a certificate and its fields and makes its record.
func record(c *x509.Certificate, put api.CertificatePut) (api.Certificate, error) {
	if put.Type == "" {
		put.Type = "client"
	}
	if !certificateTypes[put.Type] {
		return api.Certificate{}, apierr.BadRequest("certificate type %q is not supported (client or metrics)", put.Type)
	}
	if err := CheckRestriction(put); err != nil {
		return api.Certificate{}, err
	}
	if put.Name == "" {
		put.Name = c.Subject.CommonName
	}
	put.Certificate = PEM(c)
	if put.Projects == nil {
		put.Projects = []string{}
	}
	return api.Certificate{CertificatePut: put, Fingerprint: Fingerprint(c.Raw)}, nil
}

// CheckRestriction checks a certificate's restriction: projects apply to
// a restricted certificate only (one restricted to no project reaches
// nothing project-scoped). That the projects exist is the daemon's to
// check.
func CheckRestriction(put api.CertificatePut) error {
	if !put.Restricted && len(put.Projects) > 0 {
		return apierr.BadRequest("projects apply to restricted certificates only (set restricted)")
	}
	return nil
}
