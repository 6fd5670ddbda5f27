// Package event is Lodge's event bus: operations, lifecycle changes and log
// records go out to every /1.0/events listener that asked for their type.
package event

import (
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/project"
)

// Bus fans events out to subscribers.
type Bus struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
}

// Subscription receives the events of the types it asked for.
type Subscription struct {
	C     chan api.Event
	types map[string]bool
	bus   *Bus
}

// NewBus makes an empty bus.
func NewBus() *Bus { return &Bus{subs: map[*Subscription]struct{}{}} }

// Subscribe listens for the given types (none: all).
func (b *Bus) Subscribe(types []string) *Subscription {
	s := &Subscription{C: make(chan api.Event, 4096), types: map[string]bool{}, bus: b}
	for _, t := range types {
		s.types[t] = true
	}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Close stops the subscription.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	if _, ok := s.bus.subs[s]; ok {
		delete(s.bus.subs, s)
		close(s.C)
	}
}

// Send publishes an event. A subscriber too slow to keep up is cut off
// (its channel closed) rather than stalling the daemon or silently missing
// events: its client sees the disconnect instead of waiting forever.
func (b *Bus) Send(typ string, metadata any) {
	b.SendIn(project.Default, typ, metadata)
}

// SendIn publishes an event of project proj ("" for none: logging).
func (b *Bus) SendIn(proj, typ string, metadata any) {
	ev := api.Event{Type: typ, Timestamp: time.Now().UTC(), Metadata: metadata, Location: "none", Project: proj}
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		if len(s.types) > 0 && !s.types[typ] {
			continue
		}
		select {
		case s.C <- ev:
		default:
			delete(b.subs, s)
			close(s.C)
		}
	}
}

// Lifecycle publishes a lifecycle event such as "instance-started".
// Its project is the one its source names (?project=), as LXD's API
// paths name it.
func (b *Bus) Lifecycle(action, source string, ctx map[string]any) {
	b.SendIn(ProjectOf(source), "lifecycle", api.EventLifecycle{Action: action, Source: source, Context: ctx})
}

// ProjectOf is the project an API path names: its ?project=, else the
// default project.
func ProjectOf(path string) string {
	if _, query, ok := strings.Cut(path, "?"); ok {
		if v, err := url.ParseQuery(query); err == nil && v.Get("project") != "" {
			return v.Get("project")
		}
	}
	return project.Default
}
