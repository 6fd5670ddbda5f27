package store

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The database records the version of its layout (meta/schema_version).
// Each change of layout is a migration with the next number; Open applies
// those a database lacks, all in one transaction with the new version, so
// a crash leaves it at the old layout or the new, never between. A
// database from before versions were kept is version 0.

// schemaKey holds the version in the meta bucket (8 bytes, big endian).
const schemaKey = "schema_version"

// migration changes a database from version Version-1 to Version.
type migration struct {
	Version int
	What    string
	Up      func(tx *bolt.Tx) error
}

// migrations, in order; the last one's version is the current one.
var migrations = []migration{
	{1, "add the intents bucket (multi-step changes start-up settles)", func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte(Intents))
		return err
	}},
	{2, "record the default dir storage pool (its volumes stay in storage-pools/default)", func(tx *bolt.Tx) error {
		t := &Tx{tx: tx}
		if t.Exists(Pools, "default") {
			return nil
		}
		// The storage package's pool record, spelled out: it cannot be
		// imported here. An empty source is the pool's usual place.
		return t.Create(Pools, "default", map[string]any{"name": "default", "driver": "dir", "description": "", "config": map[string]string{}})
	}},
	{3, "add the storage_volumes bucket (custom volumes)", func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte(Volumes))
		return err
	}},
	{4, "add the backups bucket (instance backups)", func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte(Backups))
		return err
	}},
	{5, "add the storage_volume_snapshots bucket (custom volume snapshots)", func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte(VolumeSnapshots))
		return err
	}},
	{6, "add the storage_volume_backups bucket (custom volume backups)", func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte(VolumeBackups))
		return err
	}},
	{7, "add the config and certificates buckets (server config, trusted clients)", func(tx *bolt.Tx) error {
		for _, b := range []string{Config, Certificates} {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	}},
	{8, "add the warnings bucket (/1.0/warnings)", func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte(Warnings))
		return err
	}},
	{9, "add the projects bucket, with the default project", func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists([]byte(Projects)); err != nil {
			return err
		}
		t := &Tx{tx: tx}
		if t.Exists(Projects, "default") {
			return nil
		}
		// The projects package's record, spelled out (it imports this one).
		return t.Create(Projects, "default", map[string]any{"name": "default", "description": "Default Lodge project",
			"config": map[string]string{"features.images": "true", "features.profiles": "true", "features.storage.volumes": "true", "features.networks": "true"}})
	}},
	{10, "add the network_acls bucket (network ACLs)", func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte(NetworkACLs))
		return err
	}},
	{11, "add the network_zones and network_zone_records buckets (network zones)", func(tx *bolt.Tx) error {
		for _, b := range []string{NetworkZones, NetworkZoneRecords} {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	}},
}

// SchemaVersion is the layout this release writes.
func SchemaVersion() int { return migrations[len(migrations)-1].Version }

// migrate brings tx's database to SchemaVersion. A fresh database gets
// every bucket and the current version; one written by a newer release is
// refused rather than misread.
func migrate(tx *bolt.Tx) (applied []string, err error) {
	fresh := tx.Bucket([]byte(Meta)) == nil
	for _, b := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
			return nil, err
		}
	}
	meta := tx.Bucket([]byte(Meta))
	version := 0
	if raw := meta.Get([]byte(schemaKey)); raw != nil {
		if len(raw) != 8 {
			return nil, fmt.Errorf("schema version %x is malformed", raw)
		}
		version = int(binary.BigEndian.Uint64(raw))
	}
	// A fresh database runs every migration too, unreported: they seed
	// records (the default pool) as well as change layouts, and each is
	// idempotent.
	if version > SchemaVersion() {
		return nil, fmt.Errorf("the database is at schema version %d, written by a newer lodged; this one knows up to %d", version, SchemaVersion())
	}
	for _, m := range migrations {
		if m.Version <= version {
			continue
		}
		if err := m.Up(tx); err != nil {
			return applied, fmt.Errorf("migration %d (%s): %w", m.Version, m.What, err)
		}
		if !fresh {
			applied = append(applied, fmt.Sprintf("%d: %s", m.Version, m.What))
		}
	}
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(SchemaVersion()))
	return applied, meta.Put([]byte(schemaKey), buf[:])
}

// Migrations lists what the last Open changed ("N: what"), for the log.
func (s *Store) Migrations() []string { return s.migrated }
