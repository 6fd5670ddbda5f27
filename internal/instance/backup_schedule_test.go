package instance

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Expiry in backups.path takes the instance's own scheduled backups made
// before the cutoff, and a half-written one, and nothing else.
func TestExpiredBackupFiles(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)
	files := []string{
		backupFileName("web", now.Add(-48*time.Hour)),   // old: goes
		backupFileName("web", now.Add(-time.Hour)),      // new: stays
		backupFileName("web-1", now.Add(-48*time.Hour)), // another instance's
		backupFileName("web", now) + ".partial",         // cut short: goes
		"web-notes.txt",                                 // not a backup
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got := expiredBackupFiles(dir, "web", now.Add(-24*time.Hour))
	want := []string{filepath.Join(dir, files[0]), filepath.Join(dir, files[3])}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("expired %v, want %v", got, want)
	}
}
