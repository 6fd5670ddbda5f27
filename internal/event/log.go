package event

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/lodge-project/lodge/api"
)

// LogHandler is a slog handler that writes to next and also sends every
// record as a "logging" event, as LXD does for `lxc monitor --type logging`.
type LogHandler struct {
	next  slog.Handler
	bus   *Bus
	attrs []slog.Attr
}

// NewLogHandler wraps next.
func NewLogHandler(next slog.Handler, bus *Bus) *LogHandler {
	return &LogHandler{next: next, bus: bus}
}

// Enabled reports whether next logs the level.
func (h *LogHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle logs the record and publishes it.
func (h *LogHandler) Handle(ctx context.Context, r slog.Record) error {
	fields := map[string]string{}
	for _, a := range h.attrs {
		fields[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		fields[a.Key] = a.Value.String()
		return true
	})
	level := map[slog.Level]string{slog.LevelDebug: "debug", slog.LevelInfo: "info", slog.LevelWarn: "warning", slog.LevelError: "error"}[r.Level]
	if level == "" {
		level = fmt.Sprint(r.Level)
	}
	h.bus.SendIn("", "logging", api.EventLogging{Message: r.Message, Level: level, Context: fields})
	return h.next.Handle(ctx, r)
}

// WithAttrs keeps attrs for both outputs.
func (h *LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &LogHandler{next: h.next.WithAttrs(attrs), bus: h.bus, attrs: append(append([]slog.Attr{}, h.attrs...), attrs...)}
}

// WithGroup passes the group to next.
func (h *LogHandler) WithGroup(name string) slog.Handler {
	return &LogHandler{next: h.next.WithGroup(name), bus: h.bus, attrs: h.attrs}
}
