package instance

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/lodge-project/lodge/internal/event"
	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/instance/runtime/container"
	"github.com/lodge-project/lodge/internal/store"
)

// BenchmarkList1000 is the hot path of `GET /1.0/instances?recursion=1`
// with 1,000 defined instances (the issue's < 100 ms figure): read each
// record, expand its profiles, look up its state, render it.
func BenchmarkList1000(b *testing.B) {
	dir := b.TempDir()
	db, err := store.Open(filepath.Join(dir, "lodge.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	rt, err := container.New(filepath.Join(dir, "runtime"), dir, func(string) string { return dir }, slog.Default())
	if err != nil {
		b.Fatal(err)
	}
	s := NewService(Deps{DB: db, Runtimes: runtime.Registry{"container": rt}, Bus: event.NewBus(), Dir: dir, Log: slog.Default()})
	if err := s.EnsureDefaultProfile(); err != nil {
		b.Fatal(err)
	}
	err = db.Update(func(tx *store.Tx) error {
		for i := 0; i < 1000; i++ {
			name := fmt.Sprintf("c%04d", i)
			rec := Record{Name: name, Type: "container", Architecture: "x86_64", Profiles: []string{"default"},
				Config:  map[string]string{"limits.memory": "256MiB", "volatile.base_image": "abc", "image.os": "busybox"},
				Devices: map[string]map[string]string{}, CreatedAt: time.Now()}
			if err := tx.Create(store.Instances, name, rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		list, err := s.List()
		if err != nil || len(list) != 1000 {
			b.Fatalf("list: %d %v", len(list), err)
		}
	}
}
