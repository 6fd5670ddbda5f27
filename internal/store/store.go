// Package store keeps Lodge's state in bbolt. Every record carries a revision
// that changes on each write; the API shows it as the ETag.
package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/lodge-project/lodge/internal/apierr"
	bolt "go.etcd.io/bbolt"
)

// Buckets. One per kind of record.
const (
	Instances = "instances"
	Images    = "images"
	Aliases   = "aliases"
	Profiles  = "profiles"
	Pools     = "storage_pools"
	Meta      = "meta"
	// Snapshots are keyed "<instance>/<snapshot>".
	Snapshots = "snapshots"
	Networks  = "networks"
	// Intents record multi-step changes under way (a rename, a restore),
	// so that start-up after a crash can finish or undo them.
	Intents = "intents"
	// Volumes are custom storage volumes, keyed "<pool>/custom/<name>".
	Volumes = "storage_volumes"
	// Backups are instance backups, keyed "<instance>/<backup>".
	Backups = "backups"
	// VolumeSnapshots are custom volumes' snapshots, keyed
	// "<volume key>/<snapshot>".
	VolumeSnapshots = "storage_volume_snapshots"
	// VolumeBackups are custom volumes' backups, keyed
	// "<volume key>/<backup>".
	VolumeBackups = "storage_volume_backups"
	// Config is the server's config, keyed by key.
	Config = "config"
	// Certificates are the trusted client certificates, keyed by
	// fingerprint.
	Certificates = "certificates"
	// Warnings are the host's warnings (/1.0/warnings), keyed by UUID.
	Warnings = "warnings"
	// Projects are the projects, keyed by name; the default one is
	// seeded.
	Projects = "projects"
	// NetworkACLs are the network ACLs, keyed by project.StoreKey.
	NetworkACLs = "network_acls"
	// NetworkZones are the network zones, keyed by name (unique across
	// projects, as a DNS zone is); NetworkZoneRecords their records,
	// keyed "<zone>/<record>".
	NetworkZones       = "network_zones"
	NetworkZoneRecords = "network_zone_records"
)

var allBuckets = []string{Instances, Images, Aliases, Profiles, Pools, Meta, Snapshots, Networks, Intents, Volumes, Backups, VolumeSnapshots, VolumeBackups, Config, Certificates, Warnings, Projects, NetworkACLs, NetworkZones, NetworkZoneRecords}

// Store is the state database.
type Store struct {
	db       *bolt.DB
	migrated []string // what Open's migrations did
}

// envelope wraps a record with its revision.
type envelope struct {
	Revision uint64          `json:"revision"`
	Data     json.RawMessage `json:"data"`
}

// Open opens (or creates) the database at path.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	var applied []string
	err = db.Update(func(tx *bolt.Tx) error {
		var err error
		applied, err = migrate(tx)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return &Store{db: db, migrated: applied}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Tx is one transaction; all writes in it land together or not at all.
type Tx struct {
	tx *bolt.Tx
}

// Has says whether bucket holds key (in a transaction of its own).
func (s *Store) Has(bucket, key string) bool {
	found := false
	_ = s.View(func(tx *Tx) error {
		found = tx.Exists(bucket, key)
		return nil
	})
	return found
}

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(*Tx) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(&Tx{tx}) })
}

// Update runs fn in a read-write transaction.
func (s *Store) Update(fn func(*Tx) error) error {
	return s.db.Update(func(tx *bolt.Tx) error { return fn(&Tx{tx}) })
}

// Get decodes the record key of bucket into v and returns its revision.
func (t *Tx) Get(bucket, key string, v any) (uint64, error) {
	raw := t.tx.Bucket([]byte(bucket)).Get([]byte(key))
	if raw == nil {
		return 0, fmt.Errorf("%s %q: %w", singular(bucket), key, apierr.ErrNotFound)
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return 0, fmt.Errorf("decode %s %q: %w", singular(bucket), key, err)
	}
	if v != nil {
		if err := json.Unmarshal(env.Data, v); err != nil {
			return 0, fmt.Errorf("decode %s %q: %w", singular(bucket), key, err)
		}
	}
	return env.Revision, nil
}

// Exists says whether a record is there.
func (t *Tx) Exists(bucket, key string) bool {
	return t.tx.Bucket([]byte(bucket)).Get([]byte(key)) != nil
}

// Put writes v under key. When ifRevision is not zero the record must still
// be at that revision (the If-Match check), else ErrPreconditionFailed.
func (t *Tx) Put(bucket, key string, v any, ifRevision uint64) (uint64, error) {
	b := t.tx.Bucket([]byte(bucket))
	if ifRevision != 0 {
		cur, err := t.Get(bucket, key, nil)
		if err != nil {
			return 0, err
		}
		if cur != ifRevision {
			return 0, fmt.Errorf("%s %q changed since it was read (ETag mismatch): %w", singular(bucket), key, apierr.ErrPreconditionFailed)
		}
	}
	data, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("encode %s %q: %w", singular(bucket), key, err)
	}
	rev, err := b.NextSequence()
	if err != nil {
		return 0, err
	}
	raw, err := json.Marshal(envelope{Revision: rev, Data: data})
	if err != nil {
		return 0, err
	}
	return rev, b.Put([]byte(key), raw)
}

// Create writes a new record and fails with ErrConflict if key exists.
func (t *Tx) Create(bucket, key string, v any) error {
	if t.Exists(bucket, key) {
		return fmt.Errorf("%s %q: %w", singular(bucket), key, apierr.ErrConflict)
	}
	_, err := t.Put(bucket, key, v, 0)
	return err
}

// Delete removes a record; a missing one is ErrNotFound.
func (t *Tx) Delete(bucket, key string) error {
	if !t.Exists(bucket, key) {
		return fmt.Errorf("%s %q: %w", singular(bucket), key, apierr.ErrNotFound)
	}
	return t.tx.Bucket([]byte(bucket)).Delete([]byte(key))
}

// Each calls fn for every record of bucket, in key order.
func (t *Tx) Each(bucket string, fn func(key string, rev uint64, data json.RawMessage) error) error {
	return t.tx.Bucket([]byte(bucket)).ForEach(func(k, raw []byte) error {
		var env envelope
		if err := json.Unmarshal(raw, &env); err != nil {
			return fmt.Errorf("decode %s %q: %w", singular(bucket), k, err)
		}
		return fn(string(k), env.Revision, env.Data)
	})
}

// KeysWithPrefix lists the keys of bucket that start with prefix.
func (t *Tx) KeysWithPrefix(bucket, prefix string) []string {
	var keys []string
	c := t.tx.Bucket([]byte(bucket)).Cursor()
	p := []byte(prefix)
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		keys = append(keys, string(k))
	}
	return keys
}

// Keys lists the keys of bucket.
func (t *Tx) Keys(bucket string) []string {
	var keys []string
	_ = t.tx.Bucket([]byte(bucket)).ForEach(func(k, _ []byte) error {
		keys = append(keys, string(k))
		return nil
	})
	return keys
}

// Get is a one-record read transaction.
func Get[T any](s *Store, bucket, key string) (T, uint64, error) {
	var v T
	var rev uint64
	err := s.View(func(tx *Tx) error {
		var err error
		rev, err = tx.Get(bucket, key, &v)
		return err
	})
	return v, rev, err
}

// List decodes every record of bucket.
func List[T any](s *Store, bucket string) ([]T, error) {
	var out []T
	err := s.View(func(tx *Tx) error {
		return tx.Each(bucket, func(key string, _ uint64, data json.RawMessage) error {
			var v T
			if err := json.Unmarshal(data, &v); err != nil {
				return fmt.Errorf("decode %s %q: %w", singular(bucket), key, err)
			}
			out = append(out, v)
			return nil
		})
	})
	return out, err
}

// ListPrefix decodes the records of bucket whose keys start with prefix,
// in key order.
func ListPrefix[T any](s *Store, bucket, prefix string) ([]T, error) {
	var out []T
	err := s.View(func(tx *Tx) error {
		for _, k := range tx.KeysWithPrefix(bucket, prefix) {
			var v T
			if _, err := tx.Get(bucket, k, &v); err != nil {
				return fmt.Errorf("decode %s %q: %w", singular(bucket), k, err)
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

// ETag formats a revision for the ETag header.
func ETag(rev uint64) string { return `"` + strconv.FormatUint(rev, 10) + `"` }

// ParseETag reads an If-Match header; empty or "*" means no check.
func ParseETag(h string) (uint64, error) {
	if h == "" || h == "*" {
		return 0, nil
	}
	if len(h) >= 2 && h[0] == '"' && h[len(h)-1] == '"' {
		h = h[1 : len(h)-1]
	}
	rev, err := strconv.ParseUint(h, 10, 64)
	if err != nil {
		return 0, errors.Join(apierr.ErrPreconditionFailed, fmt.Errorf("malformed If-Match %q", h))
	}
	return rev, nil
}

func singular(bucket string) string {
	switch bucket {
	case Instances:
		return "instance"
	case Images:
		return "image"
	case Aliases:
		return "image alias"
	case Profiles:
		return "profile"
	case Pools:
		return "storage pool"
	case Snapshots:
		return "snapshot"
	case Networks:
		return "network"
	case Warnings:
		return "warning"
	case Projects:
		return "project"
	case NetworkACLs:
		return "network ACL"
	case NetworkZones:
		return "network zone"
	case NetworkZoneRecords:
		return "network zone record"
	}
	return bucket
}
