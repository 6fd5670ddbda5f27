package instance

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/backup"
	"github.com/lodge-project/lodge/internal/crashpoint"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/storage"
)

// Optimized backups (optimized_storage) hold the pool driver's own
// streams (package backup), so only a pool of the same driver imports
// them; in exchange they are written and read without a walk of the
// files. Their files stay on the host ids they have, and the config says
// on which map, as LXD's do.

// streamer is the instance's pool as a storage.Streamer, or a 400 that
// says which pools can write optimized backups.
func streamer(pool storage.Driver) (storage.Streamer, error) {
	st, ok := pool.(storage.Streamer)
	if !ok {
		return nil, apierr.BadRequest("optimized_storage backups need a pool with streams of its own (btrfs); this instance is on a %s pool: leave it out for a backup of files", pool.Name())
	}
	return st, nil
}

// writeOptimized fills w with the instance's streams: each snapshot
// against the one before, then the volume, with backup.yaml at its top,
// against the last.
func (s *Service) writeOptimized(ctx context.Context, w *backup.Writer, e Expanded, snaps []SnapshotRecord, cfg *backup.Config, scratch string) error {
	pool, vol, err := s.poolOf(e)
	if err != nil {
		return err
	}
	st, err := streamer(pool)
	if err != nil {
		return err
	}
	// The files keep their host ids: say which.
	cfg.Container.Config["volatile.last_state.idmap"] = backup.LXDIDMap(e.IDMap)
	for i, sn := range snaps {
		cfg.Snapshots[i].Config["volatile.last_state.idmap"] = backup.LXDIDMap(sn.filesIDMap(e.IDMap))
	}
	t := true
	idx := backup.Index{Name: e.Name, Backend: pool.Name(), Pool: rootPool(e.Devices), Optimized: &t,
		OptimizedHeader: &t, Type: string(typeContainer), Config: cfg}
	header := backup.OptimizedHeader{}
	for _, sn := range snaps {
		idx.Snapshots = append(idx.Snapshots, sn.Name)
		header.Subvolumes = append(header.Subvolumes, backup.Subvolume{Path: "/", Snapshot: sn.Name, Readonly: true})
	}
	header.Subvolumes = append(header.Subvolumes, backup.Subvolume{Path: "/"})
	if err := w.AddYAML("backup/index.yaml", idx); err != nil {
		return err
	}
	if err := w.AddYAML("backup/optimized_header.yaml", header); err != nil {
		return err
	}
	cfgYAML, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	names := backup.StreamNames("snapshots", "container", idx.Snapshots)
	parent := ""
	for i, name := range names {
		snap, top := "", map[string][]byte{"backup.yaml": cfgYAML}
		if i < len(snaps) {
			snap, top = snaps[i].Name, nil
		}
		err := w.AddStream(name, scratch, func(out io.Writer) error {
			return st.WriteStream(ctx, vol, snap, parent, top, out)
		})
		if err != nil {
			return fmt.Errorf("back up %s: %w", name, err)
		}
		parent = snap
	}
	crashpoint.Hit("backup.written")
	return nil
}

// checkOptimizedImport refuses an optimized backup that pool cannot take.
func checkOptimizedImport(idx backup.Index, pool storage.Driver) error {
	if _, ok := pool.(storage.Streamer); !ok || pool.Name() != idx.Backend {
		return apierr.BadRequest("the backup is optimized: it holds %s's own streams, which only a %s pool imports (pool %q is %s); choose one with --storage, or export it again without optimized storage", idx.Backend, idx.Backend, pool.Name(), pool.Name())
	}
	return idx.Header.CheckHeader()
}

// receiveBackup makes the new volume from the backup's streams, moving
// each tree's files onto the instance's map before it is sealed.
func (s *Service) receiveBackup(ctx context.Context, pool storage.Driver, vol storage.Volume, from *imported, to *idmap.Map) error {
	st, err := streamer(pool)
	if err != nil {
		return err
	}
	var snaps []string
	files := map[string]*idmap.Map{"": from.files}
	for _, sn := range from.snaps {
		snaps = append(snaps, sn.api.Name)
		files[sn.api.Name] = sn.files
	}
	next, closeFn, err := backup.Streams(ctx, from.file, backup.StreamNames("snapshots", "container", snaps), snaps)
	if err != nil {
		return err
	}
	defer closeFn()
	fix := func(dir, snap string) error {
		if err := backup.CheckTree(dir); err != nil {
			return err
		}
		if err := settleTop(dir); err != nil {
			return err
		}
		if err := idmap.ShiftImported(filepath.Join(dir, "rootfs"), files[snap], to); err != nil {
			what := "volume"
			if snap != "" {
				what = "snapshot " + snap
			}
			return apierr.BadRequest("the backup's %s: %v", what, err)
		}
		return os.Chmod(dir, 0o711)
	}
	if err := st.ReceiveStreams(ctx, vol, storage.StreamsOf(next), fix); err != nil {
		return err
	}
	crashpoint.Hit("backup.imported")
	return nil
}

// settleTop makes a received volume's top as lodged keeps it: the
// instance's metadata.yaml and templates/ belong to host root (only
// rootfs/ is on the instance's map), and nothing else stays there
// (backup.yaml, or whatever a stream put beside them).
func settleTop(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		switch e.Name() {
		case "rootfs":
		case "metadata.yaml", "templates":
			// WalkDir follows no link; Lchown changes the link itself.
			err := filepath.WalkDir(path, func(p string, _ fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				return os.Lchown(p, 0, 0)
			})
			if err != nil {
				return err
			}
		default:
			if err := os.RemoveAll(path); err != nil {
				return err
			}
		}
	}
	return nil
}
