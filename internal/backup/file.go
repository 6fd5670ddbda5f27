package backup

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/lodge-project/lodge/internal/durable"
)

// WriteFile writes the backup tarball final (in a folder it makes, 0700)
// through fill: under <final>.partial, compressed with algorithm, then
// synced and renamed into place, so a tarball under its name is always
// whole; a failure leaves nothing.
func WriteFile(final, algorithm string, fill func(w *Writer) error) error {
	return writeFile(final, algorithm, true, fill)
}

// WriteFileLater is WriteFile without the sync: the tarball is whole
// under its name while the host runs, and on disk once SyncFile returns.
// The caller records that it is not yet, so that start-up after a host
// crash removes a tarball the crash may have cut short. (A Debian
// export's sync costs about 0.3 s, which a client that downloads the
// backup and deletes it, as lxc export does, would wait for in vain.)
func WriteFileLater(final, algorithm string, fill func(w *Writer) error) error {
	return writeFile(final, algorithm, false, fill)
}

// SyncFile makes a tarball WriteFileLater wrote durable, name included.
func SyncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return durable.Dir(filepath.Dir(path))
}

func writeFile(final, algorithm string, sync bool, fill func(w *Writer) error) (err error) {
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp := final + ".partial"
	_ = os.Remove(tmp)
	w, err := create(tmp, algorithm, sync)
	if err != nil {
		return err
	}
	if err := fill(w); err != nil {
		w.Abort()
		_ = os.Remove(tmp)
		return err
	}
	if err := w.Close(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write backup %s: %w", filepath.Base(final), err)
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if !sync {
		return nil
	}
	if err := durable.Dir(dir); err != nil {
		_ = os.Remove(final)
		return err
	}
	return nil
}

// AddYAML writes v as YAML to the tarball as name.
func (w *Writer) AddYAML(name string, v any) error {
	data, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	return w.AddFile(name, data)
}

// NextName is the next free "backup<N>" after the names taken.
func NextName(taken []string) string {
	n := 0
	for _, t := range taken {
		if i, err := strconv.Atoi(strings.TrimPrefix(t, "backup")); err == nil && i >= n {
			n = i + 1
		}
	}
	return fmt.Sprintf("backup%d", n)
}

// CheckCompression refuses an algorithm Compressors lacks ("" is gzip).
func CheckCompression(algorithm string) error {
	if _, ok := Compressors[algorithm]; ok || algorithm == "" {
		return nil
	}
	_, err := Create(os.DevNull, algorithm) // says which there are
	return err
}
