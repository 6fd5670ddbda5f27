package copytree

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestCopyFileCopiesRegularFilesOnly(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "metadata.yaml")
	if err := os.WriteFile(src, []byte("architecture: x86_64\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "copy")
	if err := CopyFile(src, dst); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(dst); string(data) != "architecture: x86_64\n" {
		t.Fatalf("copy: %q", data)
	}
	if st, _ := os.Stat(dst); st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v", st.Mode())
	}
	if err := CopyFile(src, dst); err == nil {
		t.Fatal("an existing destination was overwritten")
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink("/etc/passwd", link); err != nil {
		t.Fatal(err)
	}
	if err := CopyFile(link, filepath.Join(dir, "via-link")); err == nil {
		t.Fatal("a link was followed")
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CopyFile(fifo, filepath.Join(dir, "via-fifo")); err == nil {
		t.Fatal("a FIFO was read")
	}
}
