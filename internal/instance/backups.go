package instance

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/backup"
	"github.com/lodge-project/lodge/internal/crashpoint"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/store"
)

// An instance backup is a tarball in LXD's layout (package backup) at
// $LODGE_DIR/backups/instances/<host name>/<backup>, and a record that
// says what it holds. The tarball is written under <backup>.partial and
// renamed into place before the record is made, so a record always has a
// whole tarball; start-up removes tarballs without a record.

// BackupRecord is an instance backup as the store keeps it.
type BackupRecord struct {
	Instance     string    `json:"instance"`
	Name         string    `json:"name"`
	CreatedAt    time.Time `json:"created_at"`
	ExpiresAt    time.Time `json:"expires_at"`
	InstanceOnly bool      `json:"instance_only"`
	Optimized    bool      `json:"optimized,omitempty"`
	Compression  string    `json:"compression"`
	// Since is what an incremental backup builds on (not kept after it is
	// written: the tarball says it).
	Since *api.BackupSince `json:"-"`
	// Unsynced: the tarball is not on disk yet (backups_writeback.go).
	Unsynced string `json:"unsynced,omitempty"`
}

func (r BackupRecord) api() api.InstanceBackup {
	return api.InstanceBackup{Name: r.Name, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt,
		InstanceOnly: r.InstanceOnly, ContainerOnly: r.InstanceOnly, OptimizedStorage: r.Optimized}
}

func backupKey(inst, name string) string { return inst + "/" + name }

// backupsDir holds an instance's backup tarballs.
func (s *Service) backupsDir(key string) string {
	return filepath.Join(s.dir, "backups", "instances", host(key))
}

var backupName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`)

func validateBackupName(name string) error {
	if len(name) > 63 || !backupName.MatchString(name) || strings.HasSuffix(name, ".partial") {
		return apierr.BadRequest("backup name %q is invalid: use letters, digits, '.', '_' or '-'", name)
	}
	return nil
}

// backupEntries are what a backup takes from a volume's directory.
var backupEntries = []string{"metadata.yaml", "rootfs", "templates"}

// Backups lists an instance's backups, oldest first.
func (s *Service) Backups(key string) ([]api.InstanceBackup, error) {
	out := []api.InstanceBackup{}
	err := s.db.View(func(tx *store.Tx) error {
		if !tx.Exists(store.Instances, key) {
			return apierr.NotFound("instance %q", key)
		}
		for _, k := range tx.KeysWithPrefix(store.Backups, key+"/") {
			var r BackupRecord
			if _, err := tx.Get(store.Backups, k, &r); err != nil {
				return err
			}
			out = append(out, r.api())
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, err
}

// Backup returns one backup and the path of its tarball.
func (s *Service) Backup(key, name string) (api.InstanceBackup, string, error) {
	r, _, err := store.Get[BackupRecord](s.db, store.Backups, backupKey(key, name))
	if err != nil {
		return api.InstanceBackup{}, "", apierr.NotFound("backup %q of instance %q", name, key)
	}
	return r.api(), filepath.Join(s.backupsDir(key), name), nil
}

// PrepareBackup checks a backup request and returns the backup's name and
// the work that writes it, to run as an operation. A request without a
// name gets the next free "backup<N>", as LXD does.
func (s *Service) PrepareBackup(key string, req api.InstanceBackupsPost) (string, func(ctx context.Context) error, error) {
	if err := backup.CheckCompression(req.CompressionAlgorithm); err != nil {
		return "", nil, err
	}
	if err := s.checkBackupsAllowed(key); err != nil {
		return "", nil, err
	}
	name := req.Name
	err := s.db.View(func(tx *store.Tx) error {
		if !tx.Exists(store.Instances, key) {
			return apierr.NotFound("instance %q", key)
		}
		if name == "" {
			var taken []string
			for _, k := range tx.KeysWithPrefix(store.Backups, key+"/") {
				taken = append(taken, k[len(key)+1:])
			}
			name = backup.NextName(taken)
		}
		if tx.Exists(store.Backups, backupKey(key, name)) {
			return apierr.Conflict("backup %q of instance %q already exists", name, key)
		}
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	if err := validateBackupName(name); err != nil {
		return "", nil, err
	}
	if req.LodgeSince != nil {
		if req.LodgeSince.File == "" || strings.ContainsAny(req.LodgeSince.File, "/\x00") {
			return "", nil, apierr.BadRequest("lodge_since.file %q is not a file name", req.LodgeSince.File)
		}
		// Of streams when the earlier backup is (optimized_storage), else
		// of the files that changed.
	}
	if req.OptimizedStorage {
		pool, _, err := s.poolFor(key)
		if err != nil {
			return "", nil, err
		}
		if _, err := streamer(pool); err != nil {
			return "", nil, err
		}
	}
	rec := BackupRecord{Instance: key, Name: name, ExpiresAt: req.ExpiresAt, Optimized: req.OptimizedStorage, Since: req.LodgeSince,
		InstanceOnly: req.InstanceOnly || req.ContainerOnly, Compression: req.CompressionAlgorithm}
	return name, func(ctx context.Context) error { return s.writeBackup(ctx, rec) }, nil
}

// writeBackup writes the tarball, then the record.
func (s *Service) writeBackup(ctx context.Context, rec BackupRecord) (err error) {
	defer s.lock(rec.Instance)()
	final := filepath.Join(s.backupsDir(rec.Instance), rec.Name)
	mark, err := writebackMark()
	if err != nil {
		return err
	}
	if err := s.writeTarball(ctx, rec, final, false); err != nil {
		return err
	}
	rec.CreatedAt, rec.Unsynced = time.Now().UTC(), mark
	if err := s.db.Update(func(tx *store.Tx) error { return tx.Create(store.Backups, backupKey(rec.Instance, rec.Name), rec) }); err != nil {
		_ = os.Remove(final)
		return err
	}
	crashpoint.Hit("backup.recorded")
	s.writeBackLater(mark)
	s.bus.Lifecycle("instance-backup-created", instanceURL(rec.Instance)+"/backups/"+rec.Name, nil)
	return nil
}

// writeTarball writes the backup rec describes to final, synced before it
// returns or (sync false) written back later. The caller holds the
// instance's lock.
func (s *Service) writeTarball(ctx context.Context, rec BackupRecord, final string, sync bool) error {
	e, _, err := s.load(rec.Instance)
	if err != nil {
		return err
	}
	pool, vol, err := s.poolOf(e)
	if err != nil {
		return err
	}
	var snaps []SnapshotRecord
	if !rec.InstanceOnly {
		if snaps, err = s.snapshotRecords(rec.Instance); err != nil {
			return err
		}
	}
	cfg, err := s.backupConfig(e, snaps)
	if err != nil {
		return err
	}
	var manifest *backup.Manifest
	write := backup.WriteFileLater
	if sync {
		write = backup.WriteFile
	}
	err = write(final, rec.Compression, func(w *backup.Writer) error {
		if rec.Optimized {
			return s.writeOptimized(ctx, w, e, snaps, cfg, filepath.Dir(final), rec.Since)
		}
		manifest, err = s.writeFiles(ctx, w, e, pool, vol, snaps, cfg, rec.Since)
		return err
	})
	if err != nil || manifest == nil {
		return err
	}
	// What this export saw is what the next incremental one builds on.
	if err := manifest.Save(s.manifestFile(rec.Instance)); err != nil {
		s.log.Warn("keep the export's manifest", "instance", rec.Instance, "err", err)
	}
	return nil
}

// snapshotRecords are an instance's snapshot records, oldest first.
func (s *Service) snapshotRecords(key string) ([]SnapshotRecord, error) {
	out, err := store.ListPrefix[SnapshotRecord](s.db, store.Snapshots, key+"/")
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, err
}

// idmapKeys are the volatile keys that say which ids files are on. A
// backup's files carry the instance's own ids, so they are left out: LXD
// then reads its files as unshifted ("[]") and shifts them at first start.
var idmapKeys = []string{"volatile.idmap.base", "volatile.idmap.current", "volatile.idmap.next", "volatile.last_state.idmap"}

func withoutIDMapKeys(m map[string]string) map[string]string {
	out := copyMap(m)
	for _, k := range idmapKeys {
		delete(out, k)
	}
	return out
}

// backupConfig is backup.yaml for an instance and the snapshots backed up.
func (s *Service) backupConfig(e Expanded, snaps []SnapshotRecord) (*backup.Config, error) {
	inst, _, err := s.Get(e.key())
	if err != nil {
		return nil, err
	}
	inst.Config, inst.ExpandedConfig = withoutIDMapKeys(inst.Config), withoutIDMapKeys(inst.ExpandedConfig)
	poolName := rootPool(e.Devices)
	p, _, err := s.pools.Record(poolName)
	if err != nil {
		return nil, err
	}
	poolCfg := copyMap(p.Config)
	poolCfg["source"] = s.pools.Source(p)
	cfg := &backup.Config{Container: &inst,
		Pool:   &api.StoragePool{Name: p.Name, Driver: p.Driver, Description: p.Description, Config: poolCfg, Status: "Created", Locations: []string{"none"}},
		Volume: &api.StorageVolume{Name: e.Name, Type: "container", ContentType: "filesystem", CreatedAt: e.CreatedAt, StorageVolumePut: api.StorageVolumePut{Config: map[string]string{}}}}
	err = s.db.View(func(tx *store.Tx) error {
		for _, sn := range snaps {
			a := s.renderSnapshot(tx, sn)
			a.Config, a.ExpandedConfig = withoutIDMapKeys(a.Config), withoutIDMapKeys(a.ExpandedConfig)
			cfg.Snapshots = append(cfg.Snapshots, &a)
			expires := sn.ExpiresAt // always given: LXD reads it without a check
			cfg.VolumeSnapshots = append(cfg.VolumeSnapshots, &backup.VolumeSnapshot{Name: sn.Name, Config: map[string]string{},
				ContentType: "filesystem", CreatedAt: sn.CreatedAt, ExpiresAt: &expires})
		}
		return nil
	})
	return cfg, err
}

// RenameBackup renames a backup and its tarball.
func (s *Service) RenameBackup(key, name, newName string) error {
	if err := validateBackupName(newName); err != nil {
		return err
	}
	defer s.lock(key)()
	dir := s.backupsDir(key)
	// On disk before it moves (and before the store's lock is taken): a
	// writeback under way looks for it by its mark, and finds it done.
	synced := false
	if r, _, err := store.Get[BackupRecord](s.db, store.Backups, backupKey(key, name)); err == nil && r.Unsynced != "" {
		if err := backup.SyncFile(filepath.Join(dir, name)); err != nil {
			return err
		}
		synced = true
	}
	return s.db.Update(func(tx *store.Tx) error {
		var r BackupRecord
		if _, err := tx.Get(store.Backups, backupKey(key, name), &r); err != nil {
			return apierr.NotFound("backup %q of instance %q", name, key)
		}
		if tx.Exists(store.Backups, backupKey(key, newName)) {
			return apierr.Conflict("backup %q of instance %q already exists", newName, key)
		}
		if r.Unsynced != "" && synced {
			r.Unsynced = ""
		}
		r.Name = newName
		if err := tx.Delete(store.Backups, backupKey(key, name)); err != nil {
			return err
		}
		if err := tx.Create(store.Backups, backupKey(key, newName), r); err != nil {
			return err
		}
		// Last, so a failed commit is the only undo left to do.
		return os.Rename(filepath.Join(dir, name), filepath.Join(dir, newName))
	})
}

// DeleteBackup removes a backup's record, then its tarball.
func (s *Service) DeleteBackup(key, name string) error {
	err := s.db.Update(func(tx *store.Tx) error {
		if !tx.Exists(store.Backups, backupKey(key, name)) {
			return apierr.NotFound("backup %q of instance %q", name, key)
		}
		return tx.Delete(store.Backups, backupKey(key, name))
	})
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(s.backupsDir(key), name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s.bus.Lifecycle("instance-backup-deleted", instanceURL(key)+"/backups/"+name, nil)
	return nil
}

// ExpireBackups deletes the backups whose expiry has passed.
func (s *Service) ExpireBackups(now time.Time) {
	all, err := store.List[BackupRecord](s.db, store.Backups)
	if err != nil {
		s.log.Warn("list backups to expire", "err", err)
		return
	}
	for _, r := range all {
		if r.ExpiresAt.IsZero() || !r.ExpiresAt.Before(now) {
			continue
		}
		if err := s.DeleteBackup(r.Instance, r.Name); err != nil {
			s.log.Warn("delete an expired backup", "instance", r.Instance, "backup", r.Name, "err", err)
		}
	}
}

// RepairBackups removes tarballs without a record: backups a crash cut
// short, those of deleted instances, and imports' uploads; and settles
// the backups whose writeback had not ended.
func (s *Service) RepairBackups() {
	s.settleWritebacks()
	// Uploads of imports a crash cut short.
	uploads, _ := filepath.Glob(filepath.Join(s.dir, "backups", "import-*.partial"))
	for _, f := range uploads {
		_ = os.Remove(f)
		s.log.Info("removed the upload of an import cut short", "file", f)
	}
	// Manifests of exports of instances no longer here.
	manifests, _ := filepath.Glob(filepath.Join(s.dir, "backups", "manifests", "*"))
	for _, f := range manifests {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		if strings.HasSuffix(f, ".partial") || !s.db.Has(store.Instances, project.KeyOfHost(name)) {
			_ = os.Remove(f)
		}
	}
	root := filepath.Join(s.dir, "backups", "instances")
	dirs, _ := os.ReadDir(root)
	for _, d := range dirs {
		files, _ := os.ReadDir(filepath.Join(root, d.Name()))
		for _, f := range files {
			key := project.KeyOfHost(d.Name())
			if strings.HasSuffix(f.Name(), ".partial") || !s.db.Has(store.Backups, backupKey(key, f.Name())) {
				_ = os.Remove(filepath.Join(root, d.Name(), f.Name()))
				s.log.Info("removed a backup tarball without a record", "file", filepath.Join(d.Name(), f.Name()))
			}
		}
		_ = os.Remove(filepath.Join(root, d.Name())) // if empty
	}
}

// moveBackups re-keys an instance's backup records to its new key.
func moveBackups(tx *store.Tx, key, newKey string) error {
	for _, k := range tx.KeysWithPrefix(store.Backups, key+"/") {
		var r BackupRecord
		if _, err := tx.Get(store.Backups, k, &r); err != nil {
			return err
		}
		r.Instance = newKey
		if err := tx.Create(store.Backups, backupKey(newKey, r.Name), r); err != nil {
			return err
		}
		if err := tx.Delete(store.Backups, k); err != nil {
			return err
		}
	}
	return nil
}
