package warning

import (
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/event"
	"github.com/lodge-project/lodge/internal/store"
)

func newService(t *testing.T) (*Service, *time.Time) {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "lodge.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := NewService(db, event.NewBus(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.now = func() time.Time { return now }
	return s, &now
}

func TestRaiseCountsAndResolveAndRaiseAgain(t *testing.T) {
	s, now := newService(t)
	s.Raise(InstanceAutostartFailure, "", "/1.0/instances/c1", "first")
	*now = now.Add(time.Minute)
	s.Raise(InstanceAutostartFailure, "default", "/1.0/instances/c1", "second")
	s.Raise(InstanceAutostartFailure, "", "/1.0/instances/c2", "other")
	ws, err := s.List("")
	if err != nil || len(ws) != 2 {
		t.Fatalf("List: %v %+v", err, ws)
	}
	var c1 = ws[0]
	if c1.EntityURL != "/1.0/instances/c1" {
		c1 = ws[1]
	}
	if c1.Count != 2 || c1.LastMessage != "second" || c1.Status != StatusNew || c1.Project != "default" ||
		!c1.LastSeenAt.After(c1.FirstSeenAt) || c1.Severity != "low" || c1.Type != "Failed to autostart instance" {
		t.Fatalf("c1's warning: %+v", c1)
	}

	s.Resolve(InstanceAutostartFailure, "", "/1.0/instances/c1")
	if w, _ := s.Get(c1.UUID); w.Status != StatusResolved {
		t.Fatalf("resolved: %+v", w)
	}
	s.Raise(InstanceAutostartFailure, "", "/1.0/instances/c1", "third")
	if w, _ := s.Get(c1.UUID); w.Status != StatusNew || w.Count != 3 {
		t.Fatalf("raised after being resolved: %+v", w)
	}

	if err := s.SetStatus(c1.UUID, StatusAcknowledged); err != nil {
		t.Fatal(err)
	}
	s.Raise(InstanceAutostartFailure, "", "/1.0/instances/c1", "fourth")
	if w, _ := s.Get(c1.UUID); w.Status != StatusAcknowledged {
		t.Fatalf("an acknowledged warning raised again: %+v", w)
	}
	if err := s.SetStatus(c1.UUID, StatusResolved); !errors.Is(err, apierr.ErrBadRequest) {
		t.Fatalf("a client set resolved: %v", err)
	}
	if err := s.SetStatus("nope", StatusNew); !errors.Is(err, apierr.ErrNotFound) {
		t.Fatalf("an unknown warning: %v", err)
	}
	if err := s.Delete(c1.UUID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(c1.UUID); !errors.Is(err, apierr.ErrNotFound) {
		t.Fatalf("a deleted warning: %v", err)
	}
}

func TestPruneDropsOnlyOldResolvedWarnings(t *testing.T) {
	s, now := newService(t)
	s.Raise(MissingCGroupPidsController, "", "", "old, resolved")
	s.Resolve(MissingCGroupPidsController, "", "")
	s.Raise(AppArmorNotAvailable, "", "", "old, still there")
	*now = now.Add(25 * time.Hour)
	s.Raise(MissingCGroupBlkio, "", "", "new")
	s.Resolve(MissingCGroupBlkio, "", "")
	s.Prune()
	ws, _ := s.List("")
	got := map[string]bool{}
	for _, w := range ws {
		got[w.Type] = true
	}
	if got[string(MissingCGroupPidsController)] || !got[string(AppArmorNotAvailable)] || !got[string(MissingCGroupBlkio)] {
		t.Fatalf("after Prune: %v", got)
	}
}

func TestProjectFilter(t *testing.T) {
	s, _ := newService(t)
	s.Raise(InstanceAutostartFailure, "p1", "/1.0/instances/c1?project=p1", "x")
	s.Raise(InstanceAutostartFailure, "", "/1.0/instances/c1", "y")
	if ws, _ := s.List("p1"); len(ws) != 1 || ws[0].Project != "p1" {
		t.Fatalf("List(p1): %+v", ws)
	}
}
