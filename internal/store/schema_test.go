package store

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A database written before schema versions were kept (the buckets of that
// release, records in them, no version) is migrated once, keeps its
// records, and is left at the current version.
func TestMigratesAnUnversionedDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lodge.db")
	old, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = old.Update(func(tx *bolt.Tx) error {
		for _, b := range []string{Instances, Images, Aliases, Profiles, Pools, Meta, Snapshots, Networks} {
			if _, err := tx.CreateBucket([]byte(b)); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte(Instances)).Put([]byte("c1"), []byte(`{"revision":3,"data":{"name":"c1"}}`))
	})
	old.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Migrations(); len(got) != SchemaVersion() || !strings.HasPrefix(got[0], "1: ") || !strings.HasPrefix(got[len(got)-1], fmt.Sprint(SchemaVersion(), ": ")) {
		t.Fatalf("migrations applied: %v", got)
	}
	var pool struct{ Name, Driver string }
	if err := s.View(func(tx *Tx) error { _, err := tx.Get(Pools, "default", &pool); return err }); err != nil || pool.Driver != "dir" {
		t.Fatalf("the default pool after migrating: %+v %v", pool, err)
	}
	var rec struct{ Name string }
	if err := s.View(func(tx *Tx) error { _, err := tx.Get(Instances, "c1", &rec); return err }); err != nil || rec.Name != "c1" {
		t.Fatalf("the record after migrating: %+v %v", rec, err)
	}
	if err := s.Update(func(tx *Tx) error { _, err := tx.Put(Intents, "c1", map[string]string{"op": "x"}, 0); return err }); err != nil {
		t.Fatalf("the migrated database has no intents bucket: %v", err)
	}
	s.Close()
	// Opened again: nothing more to do.
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Migrations(); len(got) != 0 {
		t.Fatalf("migrations applied a second time: %v", got)
	}
	s.Close()
}

func TestFreshDatabaseIsCurrentAndANewerOneIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lodge.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Migrations(); len(got) != 0 {
		t.Fatalf("a fresh database reported migrations: %v", got)
	}
	if !s.Has(Pools, "default") {
		t.Fatal("a fresh database has no default pool")
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error {
		var buf [8]byte
		binary.BigEndian.PutUint64(buf[:], uint64(SchemaVersion()+1))
		return tx.Bucket([]byte(Meta)).Put([]byte(schemaKey), buf[:])
	})
	db.Close()
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "newer lodged") {
		t.Fatalf("a database from a newer release: %v", err)
	}
}
