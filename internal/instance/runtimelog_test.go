package instance

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Records about an instance reach its lxc.log (info and above, whatever
// lodged's own level), records about none or about a deleted one do not,
// and lodged's own log still gets what its level lets through.
func TestRuntimeLogTeesRecordsAboutAnInstance(t *testing.T) {
	root := t.TempDir()
	logDir := func(name string) string { return filepath.Join(root, name) }
	if err := os.MkdirAll(logDir("c1"), 0o700); err != nil {
		t.Fatal(err)
	}
	var daemon strings.Builder
	log := slog.New(newRuntimeLogHandler(slog.NewTextHandler(&daemon, &slog.HandlerOptions{Level: slog.LevelWarn}), logDir))
	log.Info("started", "instance", "c1", "init_pid", 42)
	log.Debug("noise", "instance", "c1")
	log.With("instance", "c1").Warn("stop failed", "err", "boom")
	log.Info("started", "instance", "gone") // no log directory: deleted
	log.Warn("about no instance")
	data, err := os.ReadFile(filepath.Join(logDir("c1"), runtimeLogName))
	if err != nil {
		t.Fatal(err)
	}
	got := string(data)
	if !strings.Contains(got, `INFO started init_pid="42"`) || !strings.Contains(got, `WARN stop failed err="boom"`) || strings.Contains(got, "noise") {
		t.Fatalf("lxc.log:\n%s", got)
	}
	if _, err := os.Stat(logDir("gone")); err == nil {
		t.Fatal("a deleted instance's log directory came back")
	}
	if d := daemon.String(); strings.Contains(d, "started") || !strings.Contains(d, "stop failed") || !strings.Contains(d, "about no instance") {
		t.Fatalf("lodged's own log at warn level:\n%s", d)
	}
}
