package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/keyedlock"
	"github.com/lodge-project/lodge/internal/store"
	"github.com/lodge-project/lodge/internal/validate"
)

// PoolRecord is a storage pool as the store keeps it.
type PoolRecord struct {
	Name        string            `json:"name"`
	Driver      string            `json:"driver"`
	Description string            `json:"description"`
	Config      map[string]string `json:"config"`
}

// DefaultPool is the pool a fresh state directory starts with, and the
// one a root disk without a pool key is on.
const DefaultPool = "default"

// Pools are the host's storage pools: records in the store, each opened
// with its driver from the registry on first use.
type Pools struct {
	db       *store.Store
	stateDir string // $LODGE_DIR: pools without a source live in storage-pools/<name>
	registry Registry
	// volumeLimits, when set, checks a custom volume about to be made or
	// resized against its project's limits (see SetVolumeLimits).
	volumeLimits func(proj string, v VolumeRecord) error

	mu   sync.Mutex
	open map[string]Driver
	// volumeLocks serialise changes of one custom volume.
	volumeLocks keyedlock.Locks
	// changing serialises creates, updates and deletes of pools: a
	// create that lost a race must not remove the winner's directory.
	changing sync.Mutex
	// use is held shared by whatever makes volumes (creates, copies,
	// image unpacks) while it runs, and exclusively by a pool's deletion,
	// so that nothing lands in a pool going away.
	use sync.RWMutex
}

// Hold keeps every pool from being deleted until release is called.
func (p *Pools) Hold() (release func()) {
	p.use.RLock()
	return p.use.RUnlock
}

// DeleteUnused deletes pool name once nothing holds the pools, if inUse
// (asked then) finds nothing using it.
func (p *Pools) DeleteUnused(name string, inUse func() ([]string, error)) error {
	p.use.Lock()
	defer p.use.Unlock()
	if _, _, err := p.Record(name); err != nil {
		return err
	}
	users, err := inUse()
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return apierr.BadRequest("storage pool %q is in use by %s", name, strings.Join(users, ", "))
	}
	return p.Delete(name)
}

// NewPools serves the pools recorded in db.
func NewPools(db *store.Store, stateDir string, registry Registry) *Pools {
	return &Pools{db: db, stateDir: stateDir, registry: registry, open: map[string]Driver{}}
}

// Root is where a pool's volumes live: its source when that is a
// directory (or not made yet), else $LODGE_DIR/storage-pools/<name>, where
// a pool on a device or a loop file is mounted.
func (p *Pools) Root(r PoolRecord) string {
	if src := r.Config["source"]; src != "" && !onDevice(src) {
		return src
	}
	return filepath.Join(p.stateDir, "storage-pools", r.Name)
}

// Source is what a pool is on, as its config shows it: the source key, or
// the root lodged made for it.
func (p *Pools) Source(r PoolRecord) string {
	if src := r.Config["source"]; src != "" {
		return src
	}
	return p.Root(r)
}

// onDevice says whether source is a block device or a file (a loop file)
// rather than a directory.
func onDevice(source string) bool {
	st, err := os.Stat(source)
	return err == nil && !st.IsDir()
}

// spec is what pool r's driver is opened with.
func (p *Pools) spec(r PoolRecord) PoolSpec {
	return PoolSpec{Name: r.Name, Root: p.Root(r), Config: r.Config, DisksDir: filepath.Join(p.stateDir, "disks")}
}

// Get is the driver of pool name, opened on first use.
func (p *Pools) Get(name string) (Driver, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d, ok := p.open[name]; ok {
		return d, nil
	}
	r, _, err := store.Get[PoolRecord](p.db, store.Pools, name)
	if err != nil {
		return nil, apierr.BadRequest("storage pool %q does not exist", name)
	}
	t, err := p.registry.Type(r.Driver)
	var d Driver
	if err == nil {
		d, err = t.Open(p.spec(r))
	}
	if err != nil {
		return nil, fmt.Errorf("open storage pool %q: %w", name, err)
	}
	p.open[name] = d
	return d, nil
}

// Exists says whether pool name is recorded.
func (p *Pools) Exists(name string) bool { return p.db.Has(store.Pools, name) }

// Names lists the pools in name order.
func (p *Pools) Names() ([]string, error) {
	var names []string
	err := p.db.View(func(tx *store.Tx) error {
		names = tx.Keys(store.Pools)
		return nil
	})
	sort.Strings(names)
	return names, err
}

// Each calls fn with every pool that opens; one that does not is skipped
// with its error reported to fn as a nil driver.
func (p *Pools) Each(fn func(name string, d Driver, err error)) {
	names, _ := p.Names()
	for _, n := range names {
		d, err := p.Get(n)
		fn(n, d, err)
	}
}

// Record reads pool name's record and revision.
func (p *Pools) Record(name string) (PoolRecord, uint64, error) {
	r, rev, err := store.Get[PoolRecord](p.db, store.Pools, name)
	if errors.Is(err, apierr.ErrNotFound) {
		return r, 0, apierr.NotFound("storage pool %q", name)
	}
	if r.Config == nil {
		r.Config = map[string]string{}
	}
	return r, rev, err
}

// Create makes a pool: its backing store and directory, then its record.
// A source directory that is given must be an absolute path to an empty
// directory or to nothing yet, so that a pool never takes over files it
// does not own; a source device is the driver's to check.
func (p *Pools) Create(ctx context.Context, r PoolRecord) (err error) {
	if err := validate.PoolName(r.Name); err != nil {
		return err
	}
	p.changing.Lock()
	defer p.changing.Unlock()
	if r.Driver == "" {
		return apierr.BadRequest("storage pool %q: give a driver (%s)", r.Name, strings.Join(p.registry.Names(), ", "))
	}
	t, ok := p.registry[r.Driver]
	if !ok {
		return apierr.BadRequest("storage pool %q: driver %q is not supported on this host (available: %s)", r.Name, r.Driver, strings.Join(p.registry.Names(), ", "))
	}
	if r.Config == nil {
		r.Config = map[string]string{}
	}
	for k := range r.Config {
		if _, ok := t.Keys[k]; !ok {
			return apierr.BadRequest("storage pool %q: unknown config key %q for a %s pool", r.Name, k, r.Driver)
		}
	}
	if p.Exists(r.Name) {
		return apierr.Conflict("storage pool %q already exists", r.Name)
	}
	root := p.Root(r)
	if src := r.Config["source"]; src != "" {
		if err := p.checkSource(r.Name, src); err != nil {
			return err
		}
	} else if _, err := os.Stat(root); err == nil {
		return apierr.Conflict("storage pool %q: %s is left from an earlier pool; remove it first", r.Name, root)
	}
	made := !exists(root)
	d, cfg, err := t.Create(ctx, p.spec(r))
	if err == nil {
		r.Config = cfg
		err = p.db.Update(func(tx *store.Tx) error { return tx.Create(store.Pools, r.Name, r) })
		if err != nil {
			if x, ok := d.(Destroyer); ok {
				_ = x.Destroy()
			}
		}
	}
	if err != nil {
		if made {
			_ = os.RemoveAll(root)
		} else {
			_ = removeEmptyTree(root, false) // a source of the user's: only the driver's empty folders
		}
		return fmt.Errorf("create storage pool %q: %w", r.Name, err)
	}
	p.mu.Lock()
	p.open[r.Name] = d
	p.mu.Unlock()
	return nil
}

// checkSource applies the rules every given source meets: a clean
// absolute path, not a link, apart from lodged's state and other pools; a
// directory must be empty (or not there yet) and reachable by instances.
func (p *Pools) checkSource(name, src string) error {
	if !filepath.IsAbs(src) || filepath.Clean(src) != src {
		return apierr.BadRequest("storage pool %q: source %q must be a clean absolute path", name, src)
	}
	if err := p.ownPlace(name, src); err != nil {
		return err
	}
	if onDevice(src) {
		return nil
	}
	if entries, err := os.ReadDir(src); err == nil && len(entries) > 0 {
		return apierr.BadRequest("storage pool %q: source %s is not empty; give an empty directory or a path that does not exist yet", name, src)
	} else if err != nil && !os.IsNotExist(err) {
		return apierr.BadRequest("storage pool %q: source %s: %v", name, src, err)
	}
	if err := searchable(filepath.Dir(src)); err != nil {
		return apierr.BadRequest("storage pool %q: %v", name, err)
	}
	return nil
}

// Update replaces a pool's description and config; the driver, and the
// keys its driver fixes at create (source among them), stay what they were.
func (p *Pools) Update(name, description string, config map[string]string, ifRev uint64) error {
	p.changing.Lock()
	defer p.changing.Unlock()
	r, _, err := p.Record(name)
	if err != nil {
		return err
	}
	t, err := p.registry.Type(r.Driver)
	if err != nil {
		return err
	}
	if config == nil {
		config = map[string]string{}
	}
	for k, v := range config {
		changeable, ok := t.Keys[k]
		if !ok {
			return apierr.BadRequest("storage pool %q: unknown config key %q for a %s pool", name, k, r.Driver)
		}
		if k == "source" && r.Config["source"] == "" && v == p.Source(r) {
			continue // the source as GET shows it
		}
		if !changeable && v != r.Config[k] {
			return apierr.BadRequest("storage pool %q: %s cannot change once the pool exists (it is %q)", name, k, p.shown(r, k))
		}
	}
	for k, v := range r.Config {
		if _, given := config[k]; !given && !t.Keys[k] {
			return apierr.BadRequest("storage pool %q: %s cannot change once the pool exists (it is %q)", name, k, v)
		}
	}
	r.Description = description
	next := map[string]string{}
	for k, v := range r.Config {
		if !t.Keys[k] {
			next[k] = v // fixed at create: kept whether given or not
		}
	}
	for k, v := range config {
		if t.Keys[k] {
			next[k] = v
		}
	}
	r.Config = next
	return p.db.Update(func(tx *store.Tx) error {
		_, err := tx.Put(store.Pools, name, r, ifRev)
		return err
	})
}

// shown is key k of pool r as GET shows it.
func (p *Pools) shown(r PoolRecord, k string) string {
	if k == "source" {
		return p.Source(r)
	}
	return r.Config[k]
}

// Delete removes an empty pool: the caller has checked that nothing uses
// it; image volumes, which the image store makes again where needed, may
// remain and go with it. Its backing store is released, and its directory
// goes when lodged made it.
func (p *Pools) Delete(name string) error {
	p.changing.Lock()
	defer p.changing.Unlock()
	r, _, err := p.Record(name)
	if err != nil {
		return err
	}
	d, err := p.Get(name)
	if err != nil {
		return err
	}
	for _, typ := range d.Capabilities().VolumeTypes {
		if typ == TypeImage {
			continue // made again where needed; removed below
		}
		if vols, err := d.VolumeNames(typ); err != nil || len(vols) > 0 {
			return apierr.BadRequest("storage pool %q still holds %s volumes %v (%v)", name, typ, vols, err)
		}
	}
	imgs, err := d.ImageVolumeNames()
	if err != nil {
		return err
	}
	for _, fp := range imgs {
		if err := d.DeleteImageVolume(fp); err != nil {
			return fmt.Errorf("storage pool %q: remove image volume %s: %w", name, fp, err)
		}
	}
	// The backing store goes first: a mount that will not let go (EBUSY)
	// leaves the pool as it was, recorded, to be deleted again.
	root := p.Root(r)
	if x, ok := d.(Destroyer); ok {
		p.mu.Lock()
		delete(p.open, name) // opened again, and mounted again, if the record stays
		p.mu.Unlock()
		if err := x.Destroy(); err != nil {
			return fmt.Errorf("storage pool %q: release its storage: %w", name, err)
		}
	}
	if err := p.db.Update(func(tx *store.Tx) error { return tx.Delete(store.Pools, name) }); err != nil {
		return err
	}
	p.mu.Lock()
	delete(p.open, name)
	p.mu.Unlock()
	if root != r.Config["source"] {
		return os.RemoveAll(root)
	}
	// A source directory the user gave stays; only the driver's empty folders go.
	return removeEmptyTree(root, false)
}

// removeEmptyTree removes the empty directories below dir (and dir itself
// when self is set), leaving anything with files in it.
func removeEmptyTree(dir string, self bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		if e.IsDir() {
			_ = removeEmptyTree(filepath.Join(dir, e.Name()), true)
		}
	}
	if self {
		_ = os.Remove(dir) // fails, as it should, when something is left
	}
	return nil
}

// ownPlace refuses a source that is a link, or that lies inside lodged's
// state directory or another pool, or holds one: start-up repair would take
// one pool's volumes for another's leftovers.
func (p *Pools) ownPlace(name, src string) error {
	if st, err := os.Lstat(src); err == nil && st.Mode()&os.ModeSymlink != 0 {
		return apierr.BadRequest("storage pool %q: source %s is a symbolic link; give the directory itself", name, src)
	}
	real := resolved(src)
	if within(real, resolved(p.stateDir)) {
		return apierr.BadRequest("storage pool %q: source %s is inside lodged's state directory %s; leave source out to put the pool there", name, src, p.stateDir)
	}
	names, err := p.Names()
	if err != nil {
		return err
	}
	for _, other := range names {
		r, _, err := p.Record(other)
		if err != nil {
			continue
		}
		if o := resolved(p.Source(r)); within(real, o) || within(o, real) {
			return apierr.BadRequest("storage pool %q: source %s overlaps storage pool %q (%s)", name, src, other, p.Source(r))
		}
	}
	return nil
}

// resolved is path with the links of its existing part followed.
func resolved(path string) string {
	var rest []string
	for dir := filepath.Clean(path); ; dir = filepath.Dir(dir) {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(append([]string{real}, rest...)...)
		}
		if dir == "/" || dir == "." {
			return filepath.Clean(path)
		}
		rest = append([]string{filepath.Base(dir)}, rest...)
	}
}

// within says whether path is dir or below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// searchable checks that every existing directory from / down to dir lets
// other users through (o+x): an unprivileged instance's root is such a
// user, and must reach its rootfs below the pool.
func searchable(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err == nil && st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s (mode %04o) does not let other users through, so unprivileged instances could not reach their files: chmod o+x %s, or choose another source", d, st.Mode().Perm(), d)
		}
		if d == "/" || d == "." {
			return nil
		}
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// Usage is the space and inodes used and in all on the filesystem pool
// name's volumes are on.
func (p *Pools) Usage(name string) (Usage, error) {
	r, _, err := p.Record(name)
	if err != nil {
		return Usage{}, err
	}
	if _, err := p.Get(name); err != nil { // mounted, if it is on a device
		return Usage{}, err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(p.Root(r), &st); err != nil {
		return Usage{}, fmt.Errorf("storage pool %q: %w", name, err)
	}
	bs := uint64(st.Bsize)
	return Usage{Total: st.Blocks * bs, Used: (st.Blocks - st.Bfree) * bs, Inodes: st.Files, InodesUsed: st.Files - st.Ffree}, nil
}

// Usage is a pool's filesystem usage.
type Usage struct {
	Used, Total        uint64 // bytes
	InodesUsed, Inodes uint64
}
