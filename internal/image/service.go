// Package image is Lodge's image store: import (unified and split
// tarballs), lookup by fingerprint prefix or alias, properties, aliases,
// export. An image is unpacked into the default pool at import, and into
// any other pool when the first instance there is made from it.
package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/crashpoint"
	"github.com/lodge-project/lodge/internal/durable"
	"github.com/lodge-project/lodge/internal/imageserver"
	"github.com/lodge-project/lodge/internal/keyedlock"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/storage/copytree"
	"github.com/lodge-project/lodge/internal/store"
)

// Record is an image as the store keeps it.
type Record struct {
	api.Image
	// Split is set when the image came as metadata + rootfs files.
	Split bool `json:"split"`
}

// Service manages images.
type Service struct {
	db      *store.Store
	pools   *storage.Pools
	dir     string // $LODGE_DIR/images: the original files, for export
	maxSize int64
	budget  func(proj string) (int64, error) // see SetBudget
	// unpacking serialises making one image's volume on a pool.
	unpacking keyedlock.Locks
	// downloading serialises pulling one image from a server.
	downloading keyedlock.Locks
	// writeback is that of copied images' files (filesync.go).
	writeback fileWriteback
	// Servers are the protocols images are pulled with.
	Servers imageserver.Registry
}

// NewService makes the image service; dir holds the original image files.
func NewService(db *store.Store, pools *storage.Pools, dir string, maxSize int64) (*Service, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create image directory: %w", err)
	}
	s := &Service{db: db, pools: pools, dir: dir, maxSize: maxSize}
	s.writeback.delay = fileWritebackDelay
	return s, nil
}

// Upload is one image being imported: either Unified alone, or Meta and Rootfs.
type Upload struct {
	Unified, Meta, Rootfs io.Reader
	Filename              string
	Public                bool
	Properties            map[string]string
	// Project is the project the image goes to ("" is the default).
	Project string
	// Expect, when set, is the fingerprint a download was announced
	// with: anything else is refused before it is unpacked.
	Expect string
	// Cached marks an image pulled for a launch; AutoUpdate one to
	// refresh from Source.
	Cached, AutoUpdate bool
	// Defer leaves the unpacking to the image's first use (a copy
	// between hosts, as LXD does): only the metadata is read now.
	Defer  bool
	Source *api.ImageSource
}

// spooled is an upload part saved to a temporary file while being hashed.
type spooled struct {
	path string
	size int64
}

// quota is what an import may still write: the host's --max-image-size,
// or less where its project's limits.disk leaves less.
type quota struct {
	left     int64
	exceeded func() error
}

// SetBudget sets what a project may still take by an image, in bytes
// (-1: no limit): what its limits.disk leaves, as LXD counts it.
func (s *Service) SetBudget(budget func(proj string) (int64, error)) { s.budget = budget }

// quotaFor is the quota of an import into project proj.
func (s *Service) quotaFor(proj string) (*quota, error) {
	q := &quota{left: s.maxSize, exceeded: func() error {
		return fmt.Errorf("the image is larger than the %d-byte limit (lodged --max-image-size): %w", s.maxSize, apierr.ErrTooLarge)
	}}
	if s.budget == nil {
		return q, nil
	}
	b, err := s.budget(proj)
	if err != nil {
		return nil, err
	}
	if b >= 0 && b < q.left {
		q.left = b
		q.exceeded = func() error {
			return apierr.BadRequest("the image is larger than what project %q's limits.disk leaves (%d MiB)", project.Name(proj), b>>20)
		}
	}
	return q, nil
}

// spool saves r to a temporary file of the images folder, hashed into h
// as it comes; synced unless later (a deferred copy, filesync.go).
func (s *Service) spool(ctx context.Context, r io.Reader, h io.Writer, limit *quota, later bool) (spooled, error) {
	f, err := os.CreateTemp(s.dir, ".upload-*")
	if err != nil {
		return spooled{}, err
	}
	defer f.Close()
	lr := &io.LimitedReader{R: r, N: limit.left + 1}
	// A file synced now is written back as it comes (writeBehind), so the
	// fsync waits only for its tail; one synced later is left to the
	// flusher: writes in flight would hold up every cache flush meanwhile
	// (the mark's fsync, the next one of anything on the disk).
	var out io.Writer = &writeBehind{f: f}
	if later {
		out = f
	}
	n, err := copyChunked(io.MultiWriter(out, h), readerWithContext{ctx, lr})
	if err != nil {
		os.Remove(f.Name())
		return spooled{}, fmt.Errorf("receive image: %w", err)
	}
	if n > limit.left {
		os.Remove(f.Name())
		return spooled{}, limit.exceeded()
	}
	// Kept as the image's file once unpacked: on disk before its record,
	// or marked as not yet (filesync.go).
	if !later {
		if err := f.Sync(); err != nil {
			os.Remove(f.Name())
			return spooled{}, fmt.Errorf("receive image: %w", err)
		}
	}
	limit.left -= n
	return spooled{path: f.Name(), size: n}, nil
}

// writeBehind writes to f and starts its writeback every few MiB, so the
// fsync at the end waits for the tail of a download, not all of it.
type writeBehind struct {
	f              *os.File
	written, begun int64
}

const writeBehindChunk = 8 << 20

func (w *writeBehind) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.written += int64(n)
	if w.written-w.begun >= writeBehindChunk {
		_ = unix.SyncFileRange(int(w.f.Fd()), w.begun, w.written-w.begun, unix.SYNC_FILE_RANGE_WRITE)
		w.begun = w.written
	}
	return n, err
}

type readerWithContext struct {
	ctx context.Context
	r   io.Reader
}

func (r readerWithContext) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// Import stores an uploaded image and unpacks it into the pool. Importing an
// image that is already there returns its fingerprint and a conflict.
func (s *Service) Import(ctx context.Context, up Upload) (api.Image, error) {
	if up.Expect != "" && up.Unified != nil && !up.Defer {
		if _, elsewhere := s.recordOf(up.Expect); !elsewhere {
			return s.importStreaming(ctx, up)
		}
	}
	hash := sha256.New()
	limit, err := s.quotaFor(up.Project)
	if err != nil {
		return api.Image{}, err
	}
	var parts []spooled
	defer func() {
		for _, p := range parts {
			os.Remove(p.path)
		}
	}()
	readers := []io.Reader{up.Unified}
	split := up.Unified == nil
	if split {
		if up.Meta == nil || up.Rootfs == nil {
			return api.Image{}, apierr.BadRequest("a split image needs both a metadata and a rootfs part")
		}
		readers = []io.Reader{up.Meta, up.Rootfs}
	}
	for _, r := range readers {
		p, err := s.spool(ctx, r, hash, limit, up.Defer)
		if err != nil {
			return api.Image{}, err
		}
		parts = append(parts, p)
	}
	if parts[0].size == 0 {
		return api.Image{}, apierr.BadRequest("the image upload is empty")
	}
	fp := hex.EncodeToString(hash.Sum(nil))
	if up.Expect != "" && fp != up.Expect {
		return api.Image{}, errTampered(fp, up.Expect)
	}
	key := project.StoreKey(up.Project, fp)
	if s.db.Has(store.Images, key) {
		return api.Image{Fingerprint: fp}, apierr.Conflict("image %s is already imported", fp[:12])
	}
	defer s.unpacking.Lock(fp)() // one import of a fingerprint at a time, across projects
	if other, ok := s.recordOf(fp); ok {
		// In another project already: the files and volumes are shared,
		// and this project gets a record of its own.
		rec := other
		rec.Filename, rec.Public, rec.UploadedAt = up.Filename, up.Public, time.Now().UTC()
		rec.Cached, rec.AutoUpdate, rec.UpdateSource, rec.LastUsedAt = up.Cached, up.AutoUpdate, up.Source, time.Time{}
		for k, v := range up.Properties {
			rec.Properties[k] = v
		}
		rec.Aliases = []api.ImageAlias{}
		if err := s.db.Update(func(tx *store.Tx) error { return tx.Create(store.Images, key, rec) }); err != nil {
			return api.Image{}, err
		}
		return rec.Image, nil
	}
	if up.Defer {
		// Unpacked at the first use, as LXD does: the checks of the tree
		// run then (EnsureVolume); the metadata is read now.
		md, err := readMetadataOfFiles(ctx, parts[0].path)
		if err != nil {
			return api.Image{}, err
		}
		return s.commit(fp, key, split, parts, md, up)
	}

	unpack := func(dir string) error { return unpackUnified(ctx, parts[0].path, dir) }
	if split {
		unpack = func(dir string) error { return unpackSplit(ctx, parts[0].path, parts[1].path, dir) }
	}
	defer s.pools.Hold()()
	pool, err := s.importPool()
	if err != nil {
		return api.Image{}, err
	}
	if err := s.unpackInto(pool, fp, unpack); err != nil {
		return api.Image{}, err
	}
	md, err := readMetadataOfVolume(pool, fp)
	if err == nil {
		var img api.Image
		if img, err = s.commit(fp, key, split, parts, md, up); err == nil {
			return img, nil
		}
	}
	_ = pool.DeleteImageVolume(fp)
	return api.Image{}, err
}

func errTampered(got, want string) error {
	return apierr.BadRequest("the image received has fingerprint %s, not the %s announced: it was corrupted or tampered with on the way", got, want)
}

// unpackInto makes image fp's volume on pool with unpack, replacing one a
// crash left between unpack and the store write.
func (s *Service) unpackInto(pool storage.Driver, fp string, unpack func(dir string) error) error {
	if pool.HasImageVolume(fp) {
		if err := pool.DeleteImageVolume(fp); err != nil {
			return err
		}
	}
	began := time.Now()
	if err := pool.CreateImageVolume(fp, unpack); err != nil {
		return fmt.Errorf("unpack image: %w", err)
	}
	slog.Debug("image unpacked", "image", fp[:12], "took", time.Since(began))
	crashpoint.Hit("import.unpacked")
	return nil
}

// commit keeps the spooled files as image fp's and writes its record.
func (s *Service) commit(fp, key string, split bool, parts []spooled, md api.ImageMetadata, up Upload) (api.Image, error) {
	mark := ""
	if up.Defer {
		var err error
		if mark, err = s.markFilesUnsynced(fp); err != nil {
			return api.Image{}, err
		}
	}
	if err := s.keepFiles(fp, parts); err != nil {
		return api.Image{}, err
	}
	now := time.Now().UTC()
	props := map[string]string{}
	for k, v := range md.Properties {
		props[k] = v
	}
	for k, v := range up.Properties {
		props[k] = v
	}
	var size int64
	for _, p := range parts {
		size += p.size
	}
	rec := Record{Split: split, Image: api.Image{
		Fingerprint: fp, Filename: up.Filename, Public: up.Public, Properties: props, Size: size,
		Architecture: md.Architecture, Type: "container", UploadedAt: now, CreatedAt: unixOr(md.CreationDate, now),
		ExpiresAt: unixOr(md.ExpiryDate, time.Time{}), Profiles: []string{"default"}, Aliases: []api.ImageAlias{},
		Cached: up.Cached, AutoUpdate: up.AutoUpdate, UpdateSource: up.Source,
	}}
	if err := s.db.Update(func(tx *store.Tx) error { return tx.Create(store.Images, key, rec) }); err != nil {
		s.removeFiles(fp)
		return api.Image{}, err
	}
	if mark != "" {
		s.syncFilesLater(fp, mark)
	}
	return rec.Image, nil
}

// importPool is where imports are unpacked: the default pool, or the
// first there is when it was deleted.
func (s *Service) importPool() (storage.Driver, error) {
	if s.pools.Exists(storage.DefaultPool) {
		return s.pools.Get(storage.DefaultPool)
	}
	names, err := s.pools.Names()
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, apierr.BadRequest("there is no storage pool to unpack the image into: create one first (lodge storage create)")
	}
	return s.pools.Get(names[0])
}

// EnsureVolume makes image fp's volume on pool from the kept image files,
// unless the pool has it already.
func (s *Service) EnsureVolume(ctx context.Context, pool storage.Driver, fp string) error {
	defer s.unpacking.Lock(fp)()
	if pool.HasImageVolume(fp) {
		return nil
	}
	fill, ok := s.unpackFromFiles(ctx, fp)
	if !ok {
		return fmt.Errorf("image %s: %w", fp, apierr.ErrNotFound)
	}
	// A volume (and the instances on it) is only made from files on disk:
	// after a crash it is unpacked again from them.
	if err := s.syncFiles(fp, ""); err != nil {
		return err
	}
	// Another pool that keeps the image unpacked (OptimizedImages) has the
	// tree already checked and decompressed: a copy of it (reflinks where
	// the filesystem has them) is quicker than unpacking again.
	if from := s.poolWithVolume(fp, pool); from != nil {
		fill = func(dir string) error { return copyEntries(ctx, from.ImageVolumePath(fp), dir) }
	}
	if err := pool.CreateImageVolume(fp, fill); err != nil {
		return fmt.Errorf("unpack image %s into the pool: %w", fp[:12], err)
	}
	return nil
}

// unpackFromFiles unpacks image fp's kept files into a volume's directory;
// ok is false when fp has no record.
func (s *Service) unpackFromFiles(ctx context.Context, fp string) (unpack func(dir string) error, ok bool) {
	r, ok := s.recordOf(fp)
	if !ok {
		return nil, false
	}
	meta, rootfs := filepath.Join(s.dir, fp), filepath.Join(s.dir, fp+".rootfs")
	if r.Split {
		return func(dir string) error { return unpackSplit(ctx, meta, rootfs, dir) }, true
	}
	return func(dir string) error { return unpackUnified(ctx, meta, dir) }, true
}

// poolWithVolume is a pool other than not that keeps image fp unpacked.
func (s *Service) poolWithVolume(fp string, not storage.Driver) storage.Driver {
	var found storage.Driver
	s.pools.Each(func(_ string, d storage.Driver, err error) {
		if err == nil && found == nil && d != not && d.Capabilities().OptimizedImages && d.HasImageVolume(fp) {
			found = d
		}
	})
	return found
}

// copyEntries copies the entries of directory src into dst, which exists.
func copyEntries(ctx context.Context, src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		from, to := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		if e.IsDir() {
			err = copytree.Copy(ctx, from, to, copytree.Options{})
		} else {
			err = copytree.CopyFile(from, to)
		}
		if err != nil {
			return fmt.Errorf("copy %s: %w", e.Name(), err)
		}
	}
	return nil
}

// readMetadataOfVolume reads metadata.yaml back from the unpacked image.
func readMetadataOfVolume(pool storage.Driver, fp string) (api.ImageMetadata, error) {
	return readMetadata(pool.ImageVolumePath(fp))
}

func unixOr(sec int64, def time.Time) time.Time {
	if sec <= 0 {
		return def
	}
	return time.Unix(sec, 0).UTC()
}

// keepFiles moves the uploaded files to images/<fp> (and <fp>.rootfs).
func (s *Service) keepFiles(fp string, parts []spooled) error {
	names := []string{fp, fp + ".rootfs"}
	for i, p := range parts {
		if err := os.Rename(p.path, filepath.Join(s.dir, names[i])); err != nil {
			s.removeFiles(fp)
			return fmt.Errorf("keep image file: %w", err)
		}
	}
	if err := durable.Dir(s.dir); err != nil {
		s.removeFiles(fp)
		return fmt.Errorf("keep image file: %w", err)
	}
	return nil
}

func (s *Service) removeFiles(fp string) {
	os.Remove(filepath.Join(s.dir, fp))
	os.Remove(filepath.Join(s.dir, fp+".rootfs"))
	os.Remove(s.unsyncedFileMark(fp))
}

// recordOf is a record of image fp in any project: its files and pool
// volumes are one, whichever projects hold it.
func (s *Service) recordOf(fp string) (Record, bool) {
	var rec Record
	found := false
	_ = s.db.View(func(tx *store.Tx) error {
		for _, k := range tx.Keys(store.Images) {
			if _, name := project.SplitKey(k); name == fp {
				_, err := tx.Get(store.Images, k, &rec)
				found = err == nil
				return err
			}
		}
		return nil
	})
	return rec, found
}

// Files returns the paths of the original image files (rootfs is empty for unified images).
func (s *Service) Files(fp string) (meta, rootfs string) {
	rec, ok := s.recordOf(fp)
	if !ok || !rec.Split {
		return filepath.Join(s.dir, fp), ""
	}
	return filepath.Join(s.dir, fp), filepath.Join(s.dir, fp+".rootfs")
}

// List returns project proj's images with their aliases.
func (s *Service) List(proj string) ([]api.Image, error) {
	var recs []Record
	err := s.db.View(func(tx *store.Tx) error {
		for _, k := range tx.Keys(store.Images) {
			if !project.InProject(k, proj) {
				continue
			}
			var r Record
			if _, err := tx.Get(store.Images, k, &r); err != nil {
				return err
			}
			recs = append(recs, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	aliases, err := s.aliasesByTarget(proj)
	if err != nil {
		return nil, err
	}
	out := make([]api.Image, 0, len(recs))
	for _, r := range recs {
		img := r.Image
		img.Aliases = aliases[img.Fingerprint]
		if img.Aliases == nil {
			img.Aliases = []api.ImageAlias{}
		}
		out = append(out, img)
	}
	return out, nil
}

// Get finds an image of project proj by fingerprint or unique prefix.
func (s *Service) Get(proj, prefix string) (api.Image, uint64, error) {
	fp, err := s.resolvePrefix(proj, prefix)
	if err != nil {
		return api.Image{}, 0, err
	}
	rec, rev, err := store.Get[Record](s.db, store.Images, project.StoreKey(proj, fp))
	if err != nil {
		return api.Image{}, 0, err
	}
	aliases, err := s.aliasesByTarget(proj)
	if err != nil {
		return api.Image{}, 0, err
	}
	rec.Aliases = aliases[fp]
	if rec.Aliases == nil {
		rec.Aliases = []api.ImageAlias{}
	}
	return rec.Image, rev, nil
}

var hexPrefix = regexp.MustCompile(`^[0-9a-f]{1,64}$`)

// resolvePrefix is the fingerprint of project proj's one image that
// starts with prefix.
func (s *Service) resolvePrefix(proj, prefix string) (string, error) {
	if !hexPrefix.MatchString(prefix) {
		return "", apierr.NotFound("image %q (a fingerprint is hexadecimal)", prefix)
	}
	var match []string
	err := s.db.View(func(tx *store.Tx) error {
		for _, k := range tx.Keys(store.Images) {
			if p, fp := project.SplitKey(k); p == project.Name(proj) && strings.HasPrefix(fp, prefix) {
				match = append(match, fp)
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	switch len(match) {
	case 0:
		return "", apierr.NotFound("image %q", prefix)
	case 1:
		return match[0], nil
	}
	return "", apierr.BadRequest("image prefix %q matches %d images; give more of the fingerprint", prefix, len(match))
}

// Resolve turns an alias or fingerprint prefix of project proj into a
// fingerprint.
func (s *Service) Resolve(proj, aliasOrPrefix string) (string, error) {
	if a, _, err := store.Get[api.ImageAliasesEntry](s.db, store.Aliases, project.StoreKey(proj, aliasOrPrefix)); err == nil {
		return a.Target, nil
	}
	fp, err := s.resolvePrefix(proj, aliasOrPrefix)
	if errors.Is(err, apierr.ErrNotFound) {
		return "", apierr.NotFound("image %q: no such alias or fingerprint", aliasOrPrefix)
	}
	return fp, err
}

// Update replaces an image's writable fields.
func (s *Service) Update(proj, prefix string, put api.ImagePut, ifRev uint64) error {
	fp, err := s.resolvePrefix(proj, prefix)
	if err != nil {
		return err
	}
	key := project.StoreKey(proj, fp)
	return s.db.Update(func(tx *store.Tx) error {
		var rec Record
		if _, err := tx.Get(store.Images, key, &rec); err != nil {
			return err
		}
		rec.Properties = put.Properties
		if rec.Properties == nil {
			rec.Properties = map[string]string{}
		}
		rec.Public = put.Public
		rec.AutoUpdate = put.AutoUpdate
		if put.Profiles != nil {
			rec.Profiles = put.Profiles
		}
		if !put.ExpiresAt.IsZero() {
			rec.ExpiresAt = put.ExpiresAt.UTC()
		}
		_, err := tx.Put(store.Images, key, rec, ifRev)
		return err
	})
}

// Delete removes project proj's image and its aliases there; its files
// and pool volumes go with the last project that holds it.
func (s *Service) Delete(proj, prefix string) error {
	fp, err := s.resolvePrefix(proj, prefix)
	if err != nil {
		return err
	}
	defer s.unpacking.Lock(fp)()
	err = s.db.Update(func(tx *store.Tx) error {
		if err := tx.Delete(store.Images, project.StoreKey(proj, fp)); err != nil {
			return err
		}
		var doomed []string
		err := tx.Each(store.Aliases, func(key string, _ uint64, data json.RawMessage) error {
			var a api.ImageAliasesEntry
			if err := json.Unmarshal(data, &a); err != nil {
				return err
			}
			if a.Target == fp && project.InProject(key, proj) {
				doomed = append(doomed, key)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, key := range doomed {
			if err := tx.Delete(store.Aliases, key); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if _, held := s.recordOf(fp); held {
		return nil // another project has it
	}
	s.removeFiles(fp)
	var errs []error
	s.pools.Each(func(name string, pool storage.Driver, err error) {
		if err == nil {
			err = pool.DeleteImageVolume(fp)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("pool %s: %w", name, err))
		}
	})
	return errors.Join(errs...)
}

// Architecture is the host's architecture in LXD's spelling.
func Architecture() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	}
	return runtime.GOARCH
}

// aliasesByTarget are project proj's aliases by the fingerprint they name.
func (s *Service) aliasesByTarget(proj string) (map[string][]api.ImageAlias, error) {
	all, err := s.ListAliases(proj)
	if err != nil {
		return nil, err
	}
	out := map[string][]api.ImageAlias{}
	for _, a := range all {
		out[a.Target] = append(out[a.Target], api.ImageAlias{Name: a.Name, Description: a.Description})
	}
	for _, l := range out {
		sort.Slice(l, func(i, j int) bool { return l[i].Name < l[j].Name })
	}
	return out, nil
}
