package migration

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// A linked receive builds the new tree beside the old one: what did not
// change is the old file itself (a hard link), and the old tree is left
// exactly as it was, even where only a file's attributes changed (which
// rsync applies in place to the file it has).
func TestLinkedReceiveLeavesTheOldTreeAsItWas(t *testing.T) {
	needRoot(t)
	src, ws := t.TempDir(), t.TempDir()
	old, dst := filepath.Join(ws, LinkedOld), filepath.Join(ws, LinkedNew)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Mkdir(dst, 0o711))
	write := func(dir, name, content string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(dir, name)
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		must(os.WriteFile(p, []byte(content), mode))
		must(os.Chmod(p, mode))
	}
	for _, name := range []string{"same", "sub/same", "changed", "mode", "gone"} {
		write(src, name, "was "+name, 0o644)
	}
	must(os.Mkdir(old, 0o711))
	a, b := wsPair(t)
	features := lodgeFeatures
	var sent, got atomic.Int64
	ctx := context.Background()
	// The old tree is the source's as it was, by rsync (times and all);
	// then the source changes, and the new tree comes beside it.
	done := make(chan error, 1)
	go func() {
		if err := ReceiveTree(ctx, old, "", b, features, &got); err != nil {
			done <- err
			return
		}
		done <- ReceiveTreeLinked(ctx, ws, b, features, &got)
	}()
	must(SendTree(ctx, src, nil, a, features, &sent, false))
	write(src, "changed", "now changed", 0o644)
	must(os.Chmod(filepath.Join(src, "mode"), 0o600))
	must(os.Remove(filepath.Join(src, "gone")))
	write(src, "added", "added", 0o644)
	must(SendTree(ctx, src, nil, a, features, &sent, false))
	must(<-done)

	read := func(p string) string {
		t.Helper()
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	ino := func(p string) (uint64, uint32) {
		t.Helper()
		var st unix.Stat_t
		must(unix.Lstat(p, &st))
		return st.Ino, st.Mode & 0o7777
	}
	for name, want := range map[string]string{"same": "was same", "sub/same": "was sub/same", "changed": "now changed", "mode": "was mode", "added": "added"} {
		if got := read(filepath.Join(dst, name)); got != want {
			t.Errorf("new %s = %q, want %q", name, got, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(dst, "gone")); !os.IsNotExist(err) {
		t.Errorf("new has the file the source removed: %v", err)
	}
	for _, name := range []string{"same", "sub/same"} {
		if n, _ := ino(filepath.Join(dst, name)); func() bool { o, _ := ino(filepath.Join(old, name)); return o != n }() {
			t.Errorf("new %s is a copy, not a link to the old one", name)
		}
	}
	if _, mode := ino(filepath.Join(dst, "mode")); mode != 0o600 {
		t.Errorf("new mode's mode %o, want 600", mode)
	}
	// The old tree as it was, the file whose mode changed included.
	for name, want := range map[string]string{"same": "was same", "changed": "was changed", "mode": "was mode", "gone": "was gone"} {
		if got := read(filepath.Join(old, name)); got != want {
			t.Errorf("old %s = %q, want %q", name, got, want)
		}
	}
	if _, mode := ino(filepath.Join(old, "mode")); mode != 0o644 {
		t.Errorf("old mode's mode became %o: the new tree's change reached it", mode)
	}
	if _, err := os.Lstat(filepath.Join(old, "added")); !os.IsNotExist(err) {
		t.Errorf("old has the new file: %v", err)
	}
}
