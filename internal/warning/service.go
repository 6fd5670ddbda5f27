package warning

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/event"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/store"
	"github.com/lodge-project/lodge/internal/uuid"
)

// Service raises, lists and resolves warnings, as store records.
type Service struct {
	db  *store.Store
	bus *event.Bus
	log *slog.Logger
	now func() time.Time
}

// NewService keeps warnings in db and tells bus of the changes clients
// make.
func NewService(db *store.Store, bus *event.Bus, log *slog.Logger) *Service {
	return &Service{db: db, bus: bus, log: log, now: func() time.Time { return time.Now().UTC() }}
}

// Raise records that a problem of type t was seen on entity (an API path,
// or "" for the host) of project proj: a new warning, or one more sighting
// of the same one, whose message becomes msg. A warning that was resolved
// is new again; an acknowledged one stays acknowledged.
func (s *Service) Raise(t Type, proj, entity, msg string) {
	if s == nil {
		return // unit tests of the services that raise warnings
	}
	proj = project.Name(proj)
	err := s.db.Update(func(tx *store.Tx) error {
		w, found, err := find(tx, t, proj, entity)
		if err != nil {
			return err
		}
		now := s.now()
		if !found {
			w = api.Warning{WarningPut: api.WarningPut{Status: StatusNew}, UUID: uuid.New(), Location: "none", Project: proj,
				Type: string(t), FirstSeenAt: now, Severity: t.Severity(), EntityURL: entity}
		}
		if w.Status == StatusResolved {
			w.Status = StatusNew
		}
		w.Count++
		w.LastSeenAt, w.LastMessage = now, msg
		_, err = tx.Put(store.Warnings, w.UUID, w, 0)
		return err
	})
	if err != nil {
		s.log.Error("record a warning", "type", t, "entity", entity, "err", err)
	}
}

// Resolve marks the warnings of type t on entity resolved: the cause is
// gone. They are kept a day (Prune), so a client sees what happened.
func (s *Service) Resolve(t Type, proj, entity string) {
	if s == nil {
		return
	}
	proj = project.Name(proj)
	// Instance starts resolve their autostart warning: a read, and a
	// write (a disk sync) only when there is something to resolve.
	open := false
	_ = s.db.View(func(tx *store.Tx) error {
		w, found, err := find(tx, t, proj, entity)
		open = err == nil && found && w.Status != StatusResolved
		return nil
	})
	if !open {
		return
	}
	err := s.db.Update(func(tx *store.Tx) error {
		w, found, err := find(tx, t, proj, entity)
		if err != nil || !found || w.Status == StatusResolved {
			return err
		}
		w.Status = StatusResolved
		_, err = tx.Put(store.Warnings, w.UUID, w, 0)
		return err
	})
	if err != nil {
		s.log.Error("resolve a warning", "type", t, "entity", entity, "err", err)
	}
}

// find is the warning of type t on entity of proj, if there is one.
func find(tx *store.Tx, t Type, proj, entity string) (api.Warning, bool, error) {
	var out api.Warning
	found := false
	err := tx.Each(store.Warnings, func(key string, _ uint64, data json.RawMessage) error {
		var w api.Warning
		if err := json.Unmarshal(data, &w); err != nil {
			return fmt.Errorf("decode warning %q: %w", key, err)
		}
		if w.Type == string(t) && w.Project == proj && w.EntityURL == entity {
			out, found = w, true
		}
		return nil
	})
	return out, found, err
}

// List is every warning, of project proj only when proj is not "", the
// most recently seen first.
func (s *Service) List(proj string) ([]api.Warning, error) {
	all, err := store.List[api.Warning](s.db, store.Warnings)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, w := range all {
		if proj == "" || w.Project == proj {
			out = append(out, w)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LastSeenAt.After(out[j].LastSeenAt) })
	return out, nil
}

// Get is one warning.
func (s *Service) Get(uuid string) (api.Warning, error) {
	w, _, err := store.Get[api.Warning](s.db, store.Warnings, uuid)
	return w, err
}

// SetStatus acknowledges a warning or makes it new again: the two
// statuses a client may set (resolved is Lodge's to say).
func (s *Service) SetStatus(uuid, status string) error {
	if status != StatusNew && status != StatusAcknowledged {
		return apierr.BadRequest("a warning's status may be set to %q or %q, not %q", StatusNew, StatusAcknowledged, status)
	}
	err := s.db.Update(func(tx *store.Tx) error {
		var w api.Warning
		if _, err := tx.Get(store.Warnings, uuid, &w); err != nil {
			return err
		}
		w.Status = status
		_, err := tx.Put(store.Warnings, uuid, w, 0)
		return err
	})
	if err != nil {
		return err
	}
	action := "warning-acknowledged"
	if status == StatusNew {
		action = "warning-reset"
	}
	s.bus.Lifecycle(action, "/1.0/warnings/"+uuid, nil)
	return nil
}

// Delete removes a warning. One whose cause lasts comes back at its next
// sighting.
func (s *Service) Delete(uuid string) error {
	if err := s.db.Update(func(tx *store.Tx) error { return tx.Delete(store.Warnings, uuid) }); err != nil {
		return err
	}
	s.bus.Lifecycle("warning-deleted", "/1.0/warnings/"+uuid, nil)
	return nil
}

// Prune deletes warnings resolved and not seen for a day, as LXD does.
func (s *Service) Prune() {
	cutoff := s.now().Add(-24 * time.Hour)
	err := s.db.Update(func(tx *store.Tx) error {
		var stale []string
		err := tx.Each(store.Warnings, func(key string, _ uint64, data json.RawMessage) error {
			var w api.Warning
			if json.Unmarshal(data, &w) == nil && w.Status == StatusResolved && w.LastSeenAt.Before(cutoff) {
				stale = append(stale, key)
			}
			return nil
		})
		for _, k := range stale {
			if err == nil {
				err = tx.Delete(store.Warnings, k)
			}
		}
		return err
	})
	if err != nil {
		s.log.Error("prune resolved warnings", "err", err)
	}
}
