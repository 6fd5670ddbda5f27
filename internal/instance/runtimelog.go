package instance

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// runtimeLogName is the instance's runtime log in its log directory, under
// the name LXD's clients ask for (lxc info --show-log reads lxc.log).
const runtimeLogName = "lxc.log"

// runtimeLogHandler tees lodged's log records about one instance (those
// with an "instance" attribute, at info level and above) into that
// instance's runtime log: its starts, stops, exits and what went wrong,
// whatever level lodged's own log is at.
type runtimeLogHandler struct {
	next     slog.Handler
	logDir   func(name string) string
	instance string // from WithAttrs
	attrs    []slog.Attr
	mu       *sync.Mutex
}

func newRuntimeLogHandler(next slog.Handler, logDir func(string) string) *runtimeLogHandler {
	return &runtimeLogHandler{next: next, logDir: logDir, mu: &sync.Mutex{}}
}

func (h *runtimeLogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.next.Enabled(ctx, l)
}

func (h *runtimeLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelInfo {
		h.record(r)
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// record appends r to its instance's runtime log, if it names one whose
// log directory exists (a deleted instance's does not come back).
func (h *runtimeLogHandler) record(r slog.Record) {
	name := h.instance
	var fields []string
	add := func(a slog.Attr) {
		if a.Key == "instance" {
			name = a.Value.String()
			return
		}
		fields = append(fields, fmt.Sprintf("%s=%q", a.Key, a.Value.String()))
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(func(a slog.Attr) bool { add(a); return true })
	if name == "" || strings.ContainsAny(name, "/\x00") {
		return
	}
	dir := h.logDir(name)
	if _, err := os.Stat(dir); err != nil {
		return
	}
	line := fmt.Sprintf("%s %s %s %s\n", r.Time.UTC().Format(time.RFC3339Nano), r.Level, r.Message, strings.Join(fields, " "))
	h.mu.Lock()
	defer h.mu.Unlock()
	f, err := os.OpenFile(filepath.Join(dir, runtimeLogName), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > maxRuntimeLog {
		_ = f.Truncate(0) // starts over, as console.log does
	}
	_, _ = f.WriteString(line)
}

// maxRuntimeLog bounds lxc.log; past it the log starts over.
const maxRuntimeLog = 1 << 20

func (h *runtimeLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(attrs)
	c.attrs = append(append([]slog.Attr{}, h.attrs...), attrs...)
	return &c
}

func (h *runtimeLogHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	return &c
}
