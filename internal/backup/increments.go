package backup

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/durable"
)

// An incremental backup of files (Lodge's, for pools without streams)
// holds the snapshots made since the backup it builds on, whole, and of
// the instance's volume only the entries that changed since, with the
// paths deleted since in backup/container.deleted. What changed is known
// from a manifest each export of the instance leaves on the host: every
// entry of the volume with its inode, change time and size. A file whose
// content or metadata changes gets a new change time, which no one in the
// container can set back.

// DeletedMember lists, as YAML, the volume's paths deleted since the
// backup an incremental one builds on.
const DeletedMember = "backup/container.deleted"

// Manifest is what an export saw of the instance's volume.
type Manifest struct {
	// ID is the export's, which its index names (the volume's tree in
	// lodge_trees) and an incremental export since it must match.
	ID string `json:"id"`
	// Entries maps each path below the volume to its signature.
	Entries map[string]string `json:"entries"`
}

// Signature is what, when it changes, marks an entry as changed.
func Signature(st *unix.Stat_t) string {
	return fmt.Sprintf("%d:%d.%09d:%d", st.Ino, st.Ctim.Sec, st.Ctim.Nsec, st.Size)
}

// LoadManifest reads a manifest; a missing one is nil.
func LoadManifest(file string) (*Manifest, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", file, err)
	}
	return &m, nil
}

// Save writes the manifest to file, whole or not at all.
func (m *Manifest) Save(file string) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	tmp := file + ".partial"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, file); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return durable.Dir(filepath.Dir(file))
}

// Deleted are the paths of old that now does not hold, deepest first.
func (m *Manifest) Deleted(now map[string]string) []string {
	var out []string
	for p := range m.Entries {
		if _, ok := now[p]; !ok {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := strings.Count(out[i], "/"), strings.Count(out[j], "/"); a != b {
			return a > b
		}
		return out[i] < out[j]
	})
	return out
}

// ReadMember reads a small member of the tarball at file; a missing one
// is nil.
func ReadMember(ctx context.Context, file, name string) ([]byte, error) {
	r, closeFn, err := open(ctx, file)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			return nil, apierr.BadRequest("the backup is malformed or truncated: %v", err)
		}
		if hdr.Name == name {
			return io.ReadAll(io.LimitReader(tr, 64<<20))
		}
	}
}

// RemovePaths removes the paths (relative, from DeletedMember) below the
// root. Through os.Root no path leaves it, whatever links the tree holds.
func RemovePaths(root *os.Root, paths []string) error {
	for _, p := range paths {
		if !fs.ValidPath(p) || p == "." {
			return apierr.BadRequest("the backup deletes %q, which is not a path in its volume", p)
		}
		if err := root.RemoveAll(p); err != nil {
			return fmt.Errorf("delete %s: %w", p, err)
		}
	}
	return nil
}

// Merge moves the tree src into dst, both below root: an entry dst lacks
// moves in; a directory both hold is merged and takes src's mode, owners
// and times; anything else in dst is replaced. Through os.Root no path
// leaves the root, whatever links either tree holds.
func Merge(root *os.Root, src, dst string) error {
	dir, err := root.Open(src)
	if err != nil {
		return err
	}
	entries, err := dir.ReadDir(-1)
	dir.Close()
	if err != nil {
		return err
	}
	for _, e := range entries {
		s, d := path.Join(src, e.Name()), path.Join(dst, e.Name())
		sInfo, err := e.Info()
		if err != nil {
			return err
		}
		dInfo, err := root.Lstat(d)
		if err == nil && sInfo.IsDir() && dInfo.IsDir() {
			if err := Merge(root, s, d); err != nil {
				return err
			}
			if err := takeMetadata(root, d, sInfo); err != nil {
				return err
			}
			continue
		}
		if err == nil {
			if err := root.RemoveAll(d); err != nil {
				return err
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err := root.Rename(s, d); err != nil {
			return err
		}
	}
	return nil
}

// takeMetadata gives directory d the mode, owners and times of info.
func takeMetadata(root *os.Root, d string, info fs.FileInfo) error {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if err := root.Lchown(d, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if err := root.Chmod(d, info.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return err
	}
	return root.Chtimes(d, info.ModTime(), info.ModTime())
}
