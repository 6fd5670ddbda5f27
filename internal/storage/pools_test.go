package storage_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/storage"
	dirdriver "github.com/lodge-project/lodge/internal/storage/dir"
	"github.com/lodge-project/lodge/internal/store"
)

// newPools serves the pools of a state directory (dir/state); dir is for
// sources of the user's.
func newPools(t *testing.T) (p *storage.Pools, dir, state string) {
	t.Helper()
	dir = t.TempDir()
	state = filepath.Join(dir, "state")
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(state, 0o711); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(state, "lodge.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return storage.NewPools(db, state, storage.Registry{"dir": storage.Plain(func(path string) (storage.Driver, error) { return dirdriver.New(path) })}), dir, state
}

func TestPoolsAreRecords(t *testing.T) {
	p, _, dir := newPools(t)
	if names, _ := p.Names(); len(names) != 1 || names[0] != storage.DefaultPool {
		t.Fatalf("a fresh store's pools: %v", names)
	}
	if err := p.Create(context.Background(), storage.PoolRecord{Name: "fast", Driver: "dir"}); err != nil {
		t.Fatal(err)
	}
	d, err := p.Get("fast")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "storage-pools", "fast"); !strings.HasPrefix(d.VolumePath(storage.InstanceVolume("fast", "", "container", "x")), want+"/") {
		t.Fatalf("a pool without a source lives at %s", d.VolumePath(storage.InstanceVolume("fast", "", "container", "x")))
	}
	if err := p.Update("fast", "SSDs", map[string]string{"source": "/elsewhere"}, 0); apierr.Status(err) != 400 {
		t.Fatalf("moving a pool's source: %v", err)
	}
	if err := p.Update("fast", "SSDs", nil, 0); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := p.Record("fast"); r.Description != "SSDs" {
		t.Fatalf("description after update: %q", r.Description)
	}
	for _, bad := range []storage.PoolRecord{
		{Name: "fast", Driver: "dir"},
		{Name: "../x", Driver: "dir"},
		{Name: "z", Driver: "zfs"},
		{Name: "z", Driver: "dir", Config: map[string]string{"size": "1GiB"}},
		{Name: "z", Driver: "dir", Config: map[string]string{"source": "relative/path"}},
	} {
		if err := p.Create(context.Background(), bad); err == nil {
			t.Errorf("%+v was created", bad)
		}
	}
	if p.Exists("z") {
		t.Fatal("a refused pool was recorded")
	}
	if err := p.Delete("fast"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "storage-pools", "fast")); !os.IsNotExist(err) {
		t.Fatalf("the deleted pool's directory: %v", err)
	}
	if _, _, err := p.Record("fast"); apierr.Status(err) != 404 {
		t.Fatalf("the deleted pool's record: %v", err)
	}
}

// A source of the user's must be empty (or not there yet) and reachable by
// unprivileged instances; deleting the pool leaves the directory.
func TestPoolSourcesAreTheUsers(t *testing.T) {
	p, dir, state := newPools(t)
	full := filepath.Join(dir, "full")
	_ = os.MkdirAll(full, 0o711)
	_ = os.WriteFile(filepath.Join(full, "precious"), nil, 0o600)
	if err := p.Create(context.Background(), storage.PoolRecord{Name: "a", Driver: "dir", Config: map[string]string{"source": full}}); apierr.Status(err) != 400 {
		t.Fatalf("a source with files in it: %v", err)
	}
	private := filepath.Join(dir, "private")
	_ = os.Mkdir(private, 0o700)
	if err := p.Create(context.Background(), storage.PoolRecord{Name: "b", Driver: "dir", Config: map[string]string{"source": filepath.Join(private, "pool")}}); apierr.Status(err) != 400 {
		t.Fatalf("a source below a private directory: %v", err)
	}
	src := filepath.Join(dir, "mine")
	if err := p.Create(context.Background(), storage.PoolRecord{Name: "c", Driver: "dir", Config: map[string]string{"source": src}}); err != nil {
		t.Fatal(err)
	}
	// No pool inside lodged's state, inside another pool, or through a link.
	link := filepath.Join(dir, "link")
	_ = os.Symlink(src, link)
	for _, bad := range []string{
		filepath.Join(state, "storage-pools", "default", "containers", "x"),
		filepath.Join(src, "containers", "nested"),
		link,
		filepath.Join(link, "under"),
	} {
		if err := p.Create(context.Background(), storage.PoolRecord{Name: "d", Driver: "dir", Config: map[string]string{"source": bad}}); apierr.Status(err) != 400 {
			t.Errorf("a pool at %s: %v", bad, err)
		}
	}
	if err := p.Delete("c"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(src); err != nil {
		t.Fatalf("the user's source went with the pool: %v", err)
	}
	if _, err := os.Stat(filepath.Join(full, "precious")); err != nil {
		t.Fatal("a refused pool touched the files of its source")
	}
}

// Concurrent creates of one pool: one wins, and its directory stays.
func TestConcurrentPoolCreates(t *testing.T) {
	p, _, state := newPools(t)
	errs := make(chan error, 8)
	for range 8 {
		go func() { errs <- p.Create(context.Background(), storage.PoolRecord{Name: "race", Driver: "dir"}) }()
	}
	won := 0
	for range 8 {
		if err := <-errs; err == nil {
			won++
		} else if apierr.Status(err) != 409 {
			t.Errorf("a losing create: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d creates won", won)
	}
	if _, err := os.Stat(filepath.Join(state, "storage-pools", "race", "containers")); err != nil {
		t.Fatalf("the winner's pool directory: %v", err)
	}
}

func TestCustomVolumeRecords(t *testing.T) {
	p, _, state := newPools(t)
	v := storage.VolumeRecord{Pool: "default", Name: "data", Description: "shared"}
	if err := p.CreateCustomVolume(v); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []storage.VolumeRecord{
		v, // again
		{Pool: "default", Name: "../x"},
		{Pool: "nope", Name: "x"},
		{Pool: "default", Name: "blk", ContentType: storage.ContentBlock},
		{Pool: "default", Name: "big", Config: map[string]string{"size": "1GiB"}},
	} {
		if err := p.CreateCustomVolume(bad); err == nil || apierr.Status(err) >= 500 {
			t.Errorf("%+v: %v, want a 4xx", bad, err)
		}
	}
	r, rev, err := p.CustomVolume("default", "", "data")
	if err != nil || r.Description != "shared" || r.ContentType != storage.ContentFilesystem {
		t.Fatalf("the record: %+v %v", r, err)
	}
	path, err := p.CustomVolumePath("default", "", "data")
	if err != nil || !strings.HasPrefix(path, filepath.Join(state, "storage-pools", "default", "custom")) {
		t.Fatalf("the volume's place: %s %v", path, err)
	}
	if err := p.UpdateCustomVolume("default", "", "data", "other", nil, rev); err != nil {
		t.Fatal(err)
	}
	if err := p.UpdateCustomVolume("default", "", "data", "stale", nil, rev); apierr.Status(err) != 412 {
		t.Fatalf("an update at a stale revision: %v", err)
	}
	if list, _ := p.CustomVolumes("default"); len(list) != 1 || list[0].Description != "other" {
		t.Fatalf("list: %+v", list)
	}
	// Data without a record (a crash between the two writes) goes at start-up.
	orphan := filepath.Join(filepath.Dir(path), "orphan")
	if err := os.Mkdir(orphan, 0o711); err != nil {
		t.Fatal(err)
	}
	p.RepairCustomVolumes(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatalf("a volume without a record survived repair: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("repair took a recorded volume: %v", err)
	}
	if err := p.DeleteCustomVolume("default", "", "data"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the deleted volume's files: %v", err)
	}
}
