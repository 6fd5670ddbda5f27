package instance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/backup"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/store"
)

// Publish (lxc publish) writes an instance, or one of its snapshots, as a
// unified image tarball at dst: metadata.yaml, templates/ and rootfs/,
// with the owners the instance itself sees, so the image works under any
// map. An instance is published stopped, so that its files are whole; a
// snapshot any time.
func (s *Service) Publish(ctx context.Context, key, snap, compression, dst string, properties map[string]string) error {
	if err := backup.CheckCompression(compression); err != nil {
		return err
	}
	defer s.lock(key)()
	e, _, err := s.load(key)
	if err != nil {
		return err
	}
	pool, vol, err := s.poolOf(e)
	if err != nil {
		return err
	}
	if snap == "" {
		if st, _ := s.runtimeOf(e.Type).Status(key); st != runtime.StateStopped {
			return apierr.BadRequest("instance %q is %s: stop it first (lxc publish --force does), or publish a snapshot", e.Name, st)
		}
		if err := pool.MountVolume(vol); err != nil {
			return err
		}
		return writeImage(ctx, dst, compression, pool.VolumePath(vol), e.IDMap, e.Architecture, properties)
	}
	sn, _, err := store.Get[SnapshotRecord](s.db, store.Snapshots, snapKey(key, snap))
	if err != nil {
		return apierr.NotFound("snapshot %q of instance %q", snap, e.Name)
	}
	return pool.ViewSnapshot(ctx, vol, snap, func(dir string) error {
		return writeImage(ctx, dst, compression, dir, sn.filesIDMap(e.IDMap), e.Architecture, properties)
	})
}

// writeImage writes the tree dir (an instance volume's top) as an image.
func writeImage(ctx context.Context, dst, compression, dir string, files *idmap.Map, arch string, properties map[string]string) error {
	meta, err := publishedMetadata(filepath.Join(dir, "metadata.yaml"), arch, properties)
	if err != nil {
		return err
	}
	return backup.WriteFile(dst, compression, func(w *backup.Writer) error {
		if err := w.AddFile("metadata.yaml", meta); err != nil {
			return err
		}
		return w.AddTree(ctx, "", dir, []string{"templates", "rootfs"}, files)
	})
}

// publishedMetadata is the instance's metadata.yaml (from its image),
// dated now, with properties set; a fresh one when it has none. The file
// is the instance's, so it is read as untrusted: bounded, and a regular
// file only.
func publishedMetadata(path, arch string, properties map[string]string) ([]byte, error) {
	md := map[string]any{}
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read the instance's metadata.yaml: %w", err)
	default:
		defer f.Close()
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() || st.Size() > 1<<20 {
			return nil, apierr.BadRequest("the instance's metadata.yaml is not a regular file under 1 MiB")
		}
		if err := yaml.NewDecoder(io.LimitReader(f, 1<<20)).Decode(&md); err != nil && !errors.Is(err, io.EOF) {
			return nil, apierr.BadRequest("the instance's metadata.yaml: %v", err)
		}
		if md == nil {
			md = map[string]any{}
		}
	}
	md["architecture"] = arch
	md["creation_date"] = time.Now().Unix()
	props, _ := md["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
	}
	for k, v := range properties {
		props[k] = v
	}
	md["properties"] = props
	return yaml.Marshal(md)
}
