package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/backup"
	"github.com/lodge-project/lodge/internal/store"
	"github.com/lodge-project/lodge/internal/validate"
)

// Custom volume backups are LXD's tarball layout for volumes
// (backup/index.yaml, backup/volume-snapshots/<snap>/, backup/volume/),
// kept at $LODGE_DIR/backups/custom/<pool>/<volume>/<backup> with a record
// (bucket storage_volume_backups). A volume's files are on the host's own
// ids (instances mount it idmapped), so they go into the tarball as they
// are, and come back checked.

// VolumeBackupRecord is a custom volume backup as the store keeps it.
type VolumeBackupRecord struct {
	Pool        string    `json:"pool"`
	Project     string    `json:"project,omitempty"`
	Volume      string    `json:"volume"`
	Name        string    `json:"name"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	VolumeOnly  bool      `json:"volume_only"`
	Optimized   bool      `json:"optimized,omitempty"`
	Compression string    `json:"compression"`
}

// API is the record in its wire form.
func (r VolumeBackupRecord) API() api.StoragePoolVolumeBackup {
	return api.StoragePoolVolumeBackup{Name: r.Name, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, VolumeOnly: r.VolumeOnly, OptimizedStorage: r.Optimized}
}

// volumeBackupsDir holds a custom volume's backup tarballs.
func (p *Pools) volumeBackupsDir(v Volume) string {
	return filepath.Join(p.stateDir, "backups", "custom", v.Pool, v.StorageName())
}

// CustomVolumeBackups lists a custom volume's backups, oldest first.
func (p *Pools) CustomVolumeBackups(pool, proj, name string) ([]VolumeBackupRecord, error) {
	if _, _, err := p.CustomVolume(pool, proj, name); err != nil {
		return nil, err
	}
	out, err := store.ListPrefix[VolumeBackupRecord](p.db, store.VolumeBackups, volumeKey(pool, proj, name)+"/")
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, err
}

// CustomVolumeBackup is one backup and the path of its tarball.
func (p *Pools) CustomVolumeBackup(pool, proj, name, b string) (VolumeBackupRecord, string, error) {
	v, _, err := p.CustomVolume(pool, proj, name)
	if err != nil {
		return VolumeBackupRecord{}, "", err
	}
	r, _, err := store.Get[VolumeBackupRecord](p.db, store.VolumeBackups, volumeKey(pool, proj, name)+"/"+b)
	if err != nil {
		return r, "", apierr.NotFound("backup %q of storage volume %q", b, name)
	}
	return r, filepath.Join(p.volumeBackupsDir(v.Volume()), b), nil
}

// PrepareCustomVolumeBackup checks a backup request and returns the
// backup's name (the next "backup<N>" when none is given) and the work
// that writes it.
func (p *Pools) PrepareCustomVolumeBackup(pool, proj, name string, req api.StoragePoolVolumeBackupsPost) (string, func(ctx context.Context) error, error) {
	if err := backup.CheckCompression(req.CompressionAlgorithm); err != nil {
		return "", nil, err
	}
	v, _, err := p.CustomVolume(pool, proj, name)
	if err != nil {
		return "", nil, err
	}
	if req.OptimizedStorage {
		d, err := p.Get(pool)
		if err != nil {
			return "", nil, err
		}
		if _, ok := d.(Streamer); !ok {
			return "", nil, apierr.BadRequest("optimized_storage backups need a pool with streams of its own (btrfs); pool %q is %s: leave it out for a backup of files", pool, d.Name())
		}
	}
	key := volumeKey(pool, proj, name)
	b := req.Name
	if b == "" {
		var taken []string
		_ = p.db.View(func(tx *store.Tx) error {
			for _, k := range tx.KeysWithPrefix(store.VolumeBackups, key+"/") {
				taken = append(taken, k[len(key)+1:])
			}
			return nil
		})
		b = backup.NextName(taken)
	}
	if err := validate.PoolName(b); err != nil || IsLeftoverName(b) {
		return "", nil, apierr.BadRequest("backup name %q is invalid: use letters, digits, '.', '_' or '-'", b)
	}
	if p.db.Has(store.VolumeBackups, key+"/"+b) {
		return "", nil, apierr.Conflict("backup %q of storage volume %q already exists", b, name)
	}
	rec := VolumeBackupRecord{Pool: pool, Project: v.Project, Volume: name, Name: b, ExpiresAt: req.ExpiresAt,
		VolumeOnly: req.VolumeOnly, Optimized: req.OptimizedStorage, Compression: req.CompressionAlgorithm}
	return b, func(ctx context.Context) error { return p.writeVolumeBackup(ctx, rec) }, nil
}

// writeVolumeBackup writes the tarball under a temporary name, renames it
// into place, then records it.
func (p *Pools) writeVolumeBackup(ctx context.Context, rec VolumeBackupRecord) (err error) {
	d, v, unlock, err := p.lockedVolume(rec.Pool, rec.Project, rec.Volume)
	if err != nil {
		return err
	}
	defer unlock()
	var snaps []VolumeSnapshotRecord
	if !rec.VolumeOnly {
		if snaps, err = p.CustomVolumeSnapshots(rec.Pool, rec.Project, rec.Volume); err != nil {
			return err
		}
	}
	idx, err := p.volumeIndex(d, v, snaps)
	if err != nil {
		return err
	}
	final := filepath.Join(p.volumeBackupsDir(v.Volume()), rec.Name)
	err = backup.WriteFile(final, rec.Compression, func(w *backup.Writer) error {
		if rec.Optimized {
			return writeVolumeStreams(ctx, w, d, v.Volume(), idx, filepath.Dir(final))
		}
		if err := w.AddYAML("backup/index.yaml", idx); err != nil {
			return err
		}
		for _, s := range snaps {
			err := d.ViewSnapshot(ctx, v.Volume(), s.Name, func(from string) error {
				return addAll(ctx, w, "backup/volume-snapshots/"+s.Name, from)
			})
			if err != nil {
				return fmt.Errorf("back up snapshot %q: %w", s.Name, err)
			}
		}
		if err := d.MountVolume(v.Volume()); err != nil {
			return err
		}
		return addAll(ctx, w, "backup/volume", d.VolumePath(v.Volume()))
	})
	if err != nil {
		return err
	}
	rec.CreatedAt = time.Now().UTC()
	key := volumeKey(rec.Pool, rec.Project, rec.Volume) + "/" + rec.Name
	if err := p.db.Update(func(tx *store.Tx) error { return tx.Create(store.VolumeBackups, key, rec) }); err != nil {
		_ = os.Remove(final)
		return err
	}
	return nil
}

// addAll writes every entry of dir, with its owners as they are.
func addAll(ctx context.Context, w *backup.Writer, prefix, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return w.AddTree(ctx, prefix, dir, names, nil)
}

// volumeIndex is index.yaml for a custom volume backup.
func (p *Pools) volumeIndex(d Driver, v VolumeRecord, snaps []VolumeSnapshotRecord) (backup.Index, error) {
	pr, _, err := p.Record(v.Pool)
	if err != nil {
		return backup.Index{}, err
	}
	optimized := false
	cfg := &backup.Config{
		Pool: &api.StoragePool{Name: pr.Name, Driver: pr.Driver, Description: pr.Description, Config: pr.Config, Status: "Created", Locations: []string{"none"}},
		Volume: &api.StorageVolume{Name: v.Name, Type: string(TypeCustom), ContentType: string(v.ContentType), CreatedAt: v.CreatedAt, Project: v.Project,
			StorageVolumePut: api.StorageVolumePut{Config: copyConfig(v.Config), Description: v.Description}},
	}
	idx := backup.Index{Name: v.Name, Backend: d.Name(), Pool: v.Pool, Optimized: &optimized, OptimizedHeader: &optimized, Type: string(TypeCustom), Config: cfg}
	for _, s := range snaps {
		idx.Snapshots = append(idx.Snapshots, s.Name)
		expires := s.ExpiresAt // always given: LXD reads it without a check
		cfg.VolumeSnapshots = append(cfg.VolumeSnapshots, &backup.VolumeSnapshot{Name: s.Name, Description: s.Description,
			Config: copyConfig(s.Config), ContentType: string(v.ContentType), CreatedAt: s.CreatedAt, ExpiresAt: &expires})
	}
	return idx, nil
}

// RenameCustomVolumeBackup renames a backup and its tarball.
func (p *Pools) RenameCustomVolumeBackup(pool, proj, name, b, newName string) error {
	if err := validate.PoolName(newName); err != nil || IsLeftoverName(newName) {
		return apierr.BadRequest("backup name %q is invalid: use letters, digits, '.', '_' or '-'", newName)
	}
	_, path, err := p.CustomVolumeBackup(pool, proj, name, b)
	if err != nil {
		return err
	}
	key := volumeKey(pool, proj, name)
	return p.db.Update(func(tx *store.Tx) error {
		var r VolumeBackupRecord
		if _, err := tx.Get(store.VolumeBackups, key+"/"+b, &r); err != nil {
			return err
		}
		if tx.Exists(store.VolumeBackups, key+"/"+newName) {
			return apierr.Conflict("backup %q of storage volume %q already exists", newName, name)
		}
		r.Name = newName
		if err := tx.Delete(store.VolumeBackups, key+"/"+b); err != nil {
			return err
		}
		if err := tx.Create(store.VolumeBackups, key+"/"+newName, r); err != nil {
			return err
		}
		return os.Rename(path, filepath.Join(filepath.Dir(path), newName)) // last: a failed commit is the only undo left
	})
}

// DeleteCustomVolumeBackup removes a backup's record, then its tarball.
func (p *Pools) DeleteCustomVolumeBackup(pool, proj, name, b string) error {
	_, path, err := p.CustomVolumeBackup(pool, proj, name, b)
	if err != nil {
		return err
	}
	if err := p.db.Update(func(tx *store.Tx) error { return tx.Delete(store.VolumeBackups, volumeKey(pool, proj, name)+"/"+b) }); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// ExpireCustomVolumeBackups deletes the backups whose expiry has passed.
func (p *Pools) ExpireCustomVolumeBackups(now time.Time) []error {
	all, err := store.List[VolumeBackupRecord](p.db, store.VolumeBackups)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, r := range all {
		if r.ExpiresAt.IsZero() || !r.ExpiresAt.Before(now) {
			continue
		}
		if err := p.DeleteCustomVolumeBackup(r.Pool, r.Project, r.Volume, r.Name); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// repairVolumeBackups removes tarballs without a record: backups a crash
// cut short, and those of volumes deleted meanwhile.
func (p *Pools) repairVolumeBackups(log *slog.Logger) {
	recorded := map[string]bool{}
	_ = p.db.View(func(tx *store.Tx) error {
		for _, k := range tx.Keys(store.VolumeBackups) {
			var r VolumeBackupRecord
			if _, err := tx.Get(store.VolumeBackups, k, &r); err == nil {
				v := Volume{Pool: r.Pool, Project: r.Project, Type: TypeCustom, Name: r.Volume}
				recorded[filepath.Join(p.volumeBackupsDir(v), r.Name)] = true
			}
		}
		return nil
	})
	files, _ := filepath.Glob(filepath.Join(p.stateDir, "backups", "custom", "*", "*", "*"))
	for _, f := range files {
		if !recorded[f] {
			log.Warn("repair: removing a volume backup without a record", "file", f)
			_ = os.Remove(f)
			_ = os.Remove(filepath.Dir(f)) // if empty
		}
	}
}

// PrepareCustomVolumeImport checks a volume backup tarball at file (LXD's
// layout, from Lodge or LXD) and returns the name of the volume it makes
// on pool (name, or the backup's) and the work that makes it.
func (p *Pools) PrepareCustomVolumeImport(ctx context.Context, pool, proj, file, name string) (string, func(ctx context.Context) error, error) {
	idx, err := backup.ReadIndex(ctx, file)
	if err != nil {
		return "", nil, err
	}
	if idx.Type != string(TypeCustom) {
		return "", nil, apierr.BadRequest("the backup is of a %s, not a custom volume", idx.Type)
	}
	if name == "" {
		name = idx.Name
	}
	d, err := p.Get(pool)
	if err != nil {
		return "", nil, err
	}
	if idx.IsOptimized() {
		if _, ok := d.(Streamer); !ok || d.Name() != idx.Backend {
			return "", nil, apierr.BadRequest("the backup is optimized: it holds %s's own streams, which only a %s pool imports (pool %q is %s); export it again without optimized storage", idx.Backend, idx.Backend, pool, d.Name())
		}
		if err := idx.Header.CheckHeader(); err != nil {
			return "", nil, apierr.BadRequest("%v", err)
		}
	}
	rec := VolumeRecord{Pool: pool, Project: proj, Name: name, Config: map[string]string{}, ContentType: ContentFilesystem}
	snapInfo := map[string]*backup.VolumeSnapshot{}
	if idx.Config != nil && idx.Config.Volume != nil {
		rec.Description = idx.Config.Volume.Description
		rec.Config = takenVolumeConfig(idx.Config.Volume.Config)
		if ct := idx.Config.Volume.ContentType; ct != "" && ct != string(ContentFilesystem) {
			return "", nil, apierr.BadRequest("the backup is of a %s volume; only filesystem volumes are imported here", ct)
		}
	}
	if idx.Config != nil {
		for _, s := range idx.Config.VolumeSnapshots {
			if s != nil {
				snapInfo[s.Name] = s
			}
		}
	}
	for _, s := range idx.Snapshots {
		if err := checkVolumeSnapName(s); err != nil {
			return "", nil, apierr.BadRequest("the backup's snapshot: %v", err)
		}
	}
	rec.Name = name
	if err := p.admit(d, rec); err != nil {
		return "", nil, err
	}
	if err := validate.PoolName(name); err != nil || IsLeftoverName(name) {
		return "", nil, apierr.BadRequest("volume name %q is invalid: use letters, digits, '-', '_' and '.'", name)
	}
	if p.db.Has(store.Volumes, volumeKey(pool, proj, name)) {
		return "", nil, apierr.Conflict("storage volume %q already exists on pool %q", name, pool)
	}
	return name, func(ctx context.Context) error { return p.importVolume(ctx, d, rec, file, idx, snapInfo) }, nil
}

// importVolume fills a new volume tree by tree, snapshotting after each
// snapshot's, then records it and its snapshots in one transaction.
func (p *Pools) importVolume(ctx context.Context, d Driver, rec VolumeRecord, file string, idx backup.Index, info map[string]*backup.VolumeSnapshot) (err error) {
	snaps := idx.Snapshots
	defer p.Hold()()
	key, release, err := p.claimNewVolume(d, rec)
	if err != nil {
		return err
	}
	defer func() { release(err != nil) }()
	v := rec.Volume()
	settle := func(dir, what string) error { return settleVolumeTree(dir, "the backup's "+what) }
	if idx.IsOptimized() {
		next, closeFn, err := backup.Streams(ctx, file, backup.StreamNames("volume-snapshots", "volume", snaps), snaps)
		if err != nil {
			return err
		}
		defer closeFn()
		err = d.(Streamer).ReceiveStreams(ctx, v, StreamsOf(next), func(dir, snap string) error {
			return settle(dir, "volume "+snap)
		})
		if err != nil {
			return err
		}
	} else if err := d.CreateEmptyVolume(v); err != nil {
		return err
	}
	fill := func(member string) error {
		if idx.IsOptimized() {
			return nil // received whole above
		}
		dir := d.VolumePath(v)
		if err := EmptyDir(dir); err != nil {
			return err
		}
		if err := backup.Extract(ctx, file, member, dir); err != nil {
			return err
		}
		return settle(dir, member)
	}
	now := time.Now().UTC()
	var snapRecs []VolumeSnapshotRecord
	for _, s := range snaps {
		if err := fill("backup/volume-snapshots/" + s); err != nil {
			return err
		}
		if !idx.IsOptimized() {
			if err := d.CreateSnapshot(ctx, v, s); err != nil {
				return fmt.Errorf("snapshot %q: %w", s, err)
			}
		}
		sr := VolumeSnapshotRecord{Pool: rec.Pool, Project: rec.Project, Volume: rec.Name, Name: s, Config: copyConfig(rec.Config), CreatedAt: now}
		if i := info[s]; i != nil {
			sr.Description, sr.CreatedAt = i.Description, i.CreatedAt
			if i.ExpiresAt != nil && !i.ExpiresAt.IsZero() {
				sr.ExpiresAt = *i.ExpiresAt
			}
		}
		snapRecs = append(snapRecs, sr)
	}
	if err := fill("backup/volume"); err != nil {
		return err
	}
	if err := SetVolumeSize(d, v, rec.Config["size"]); err != nil {
		return err
	}
	rec.CreatedAt = now
	return p.recordVolume(key, rec, snapRecs)
}

// writeVolumeStreams fills w with an optimized backup of custom volume v:
// the driver's streams, each snapshot against the one before, then the
// volume against the last.
func writeVolumeStreams(ctx context.Context, w *backup.Writer, d Driver, v Volume, idx backup.Index, scratch string) error {
	st := d.(Streamer)
	t := true
	idx.Optimized, idx.OptimizedHeader = &t, &t
	header := backup.OptimizedHeader{}
	for _, s := range idx.Snapshots {
		header.Subvolumes = append(header.Subvolumes, backup.Subvolume{Path: "/", Snapshot: s, Readonly: true})
	}
	header.Subvolumes = append(header.Subvolumes, backup.Subvolume{Path: "/"})
	if err := w.AddYAML("backup/index.yaml", idx); err != nil {
		return err
	}
	if err := w.AddYAML("backup/optimized_header.yaml", header); err != nil {
		return err
	}
	parent := ""
	for i, name := range backup.StreamNames("volume-snapshots", "volume", idx.Snapshots) {
		snap := ""
		if i < len(idx.Snapshots) {
			snap = idx.Snapshots[i]
		}
		err := w.AddStream(name, scratch, func(out io.Writer) error {
			_, err := st.WriteStream(ctx, v, StreamSpec{Snapshot: snap, Parent: parent}, out)
			return err
		})
		if err != nil {
			return fmt.Errorf("back up %s: %w", name, err)
		}
		parent = snap
	}
	return nil
}
