package instance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/backup"
	"github.com/lodge-project/lodge/internal/crashpoint"
	"github.com/lodge-project/lodge/internal/cron"
	"github.com/lodge-project/lodge/internal/daemonid"
	"github.com/lodge-project/lodge/internal/devlxd"
	"github.com/lodge-project/lodge/internal/event"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/image"
	"github.com/lodge-project/lodge/internal/instance/device"
	"github.com/lodge-project/lodge/internal/instance/keys"
	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/keyedlock"
	"github.com/lodge-project/lodge/internal/limits"
	"github.com/lodge-project/lodge/internal/network"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/revert"
	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/store"
	"github.com/lodge-project/lodge/internal/uuid"
	"github.com/lodge-project/lodge/internal/validate"
	"github.com/lodge-project/lodge/internal/warning"
)

// Service creates, runs and changes instances.
type Service struct {
	db       *store.Store
	networks *network.Service
	pools    *storage.Pools
	images   *image.Service
	runtimes runtime.Registry
	bus      *event.Bus
	idmap    idmap.Map
	host     limits.Host
	dir      string // $LODGE_DIR
	daemonID string // tells this daemon's host names from another's (daemonid)
	log      *slog.Logger
	defStop  time.Duration

	mu           sync.Mutex
	locks        keyedlock.Locks
	restarting   map[string]bool
	reserved     map[string]bool // names of instances being created
	hostShutdown bool
	pendingMaps  map[uint32]bool // isolated ranges handed out, not yet recorded
	// devEnv is what device types reach on the host.
	devEnv *device.Env
	// netReady is closed once lodged has set its networks up after a start;
	// instance starts wait for it, since their NICs need the bridges.
	netReady chan struct{}
	// warnings hears of instances that fail to autostart.
	warnings *warning.Service
	// devlxd serves /dev/lxd/sock to running instances.
	devlxd *devlxd.Server
	// projects resolves features and holds limits (nil in unit tests).
	projects Projects
}

// Deps are what the service is built from.
type Deps struct {
	DB       *store.Store
	Networks *network.Service
	Pools    *storage.Pools
	Images   *image.Service
	// Runtimes run instances, by instance type.
	Runtimes runtime.Registry
	Bus      *event.Bus
	IDMap    idmap.Map
	Host     limits.Host
	Dir      string
	Log      *slog.Logger
	// ProxyPorts limits the host ports proxy devices may listen on.
	ProxyPorts device.AllowedPorts
	// Projects says which project's profiles, images and volumes a
	// project uses, and holds its limits and restrictions (nil: the
	// default project alone).
	Projects Projects
	// Warnings hears of instances that fail to autostart (nil: nowhere).
	Warnings *warning.Service
}

// NewService wires the service and hooks it to the runtime's exit reports.
func NewService(d Deps) *Service {
	s := &Service{db: d.DB, networks: d.Networks, pools: d.Pools, images: d.Images, runtimes: d.Runtimes, bus: d.Bus, idmap: d.IDMap, host: d.Host,
		dir: d.Dir, log: d.Log, defStop: 30 * time.Second, restarting: map[string]bool{}, reserved: map[string]bool{}, pendingMaps: map[uint32]bool{}, netReady: make(chan struct{}), warnings: d.Warnings, projects: d.Projects}
	s.log = slog.New(newRuntimeLogHandler(d.Log.Handler(), s.LogDir))
	s.daemonID = daemonid.Of(d.Dir)
	var images devlxd.Images
	if d.Images != nil {
		images = d.Images
	}
	s.devlxd = devlxd.NewServer(filepath.Join(d.Dir, "devlxd"), s, images, d.Bus, s.log)
	s.devEnv = &device.Env{Networks: d.Networks, Proxies: &device.Proxies{}, ProxyPorts: d.ProxyPorts,
		NodesDir: s.devicesDir, VethName: s.hostVethName, Log: s.log,
		NetworksProject: func(proj string) string { return s.effective(proj, "features.networks") },
		CustomVolume: func(proj, pool, name string) (string, error) {
			return d.Pools.CustomVolumePath(pool, s.volumesProject(proj), name)
		}}
	for _, rt := range d.Runtimes {
		hostNamed{rt}.OnExit(s.onExit)
	}
	if d.Networks != nil {
		d.Networks.NICs = s.nicsOn
		d.Networks.UsedBy = s.networkUsers
	}
	return s
}

// lock serialises state changes of one instance.
func (s *Service) lock(name string) func() { return s.locks.Lock(name) }

// LogDir is where the logs of the instance with store key key live.
func (s *Service) LogDir(key string) string { return filepath.Join(s.dir, "logs", host(key)) }

// profiles reads the named profiles of project proj (an instance's
// profiles are its project's).
func (s *Service) profiles(tx *store.Tx, proj string, names []string) ([]api.Profile, error) {
	return readProfiles(tx, s.profilesProject(proj), names, nil)
}

// readProfiles reads the named profiles of project proj, through decoded
// (when not nil, keyed by store key): a list of many instances decodes
// each profile once.
func readProfiles(tx *store.Tx, proj string, names []string, decoded map[string]api.Profile) ([]api.Profile, error) {
	out := make([]api.Profile, 0, len(names))
	for _, n := range names {
		key := project.StoreKey(proj, n)
		p, ok := decoded[key]
		if !ok {
			if _, err := tx.Get(store.Profiles, key, &p); err != nil {
				return nil, apierr.BadRequest("profile %q does not exist", n)
			}
			if decoded != nil {
				decoded[key] = p
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// load reads an instance and expands it.
func (s *Service) load(name string) (Expanded, uint64, error) {
	var e Expanded
	var rev uint64
	err := s.db.View(func(tx *store.Tx) error {
		var r Record
		var err error
		if rev, err = tx.Get(store.Instances, name, &r); err != nil {
			return err
		}
		ps, err := s.profiles(tx, r.Project, r.Profiles)
		if err != nil {
			return err
		}
		e = expand(r, ps)
		return nil
	})
	return e, rev, err
}

// Get returns the wire form of one instance and its ETag revision.
func (s *Service) Get(name string) (api.Instance, uint64, error) {
	e, rev, err := s.load(name)
	if err != nil {
		return api.Instance{}, 0, err
	}
	st, _ := s.runtimeOf(e.Type).Status(name)
	inst := render(e, st)
	ids := backup.LXDIDMap(e.IDMap)
	inst.Config, inst.ExpandedConfig = withIDMapKeys(inst.Config, ids), withIDMapKeys(inst.ExpandedConfig, ids)
	return inst, rev, nil
}

// Names lists instance names in order.
func (s *Service) Names() ([]string, error) {
	var names []string
	err := s.db.View(func(tx *store.Tx) error {
		names = tx.Keys(store.Instances)
		return nil
	})
	return names, err
}

// List returns every instance. One read transaction covers them all, and
// each profile is decoded once, not once per instance that uses it: the
// profile of BenchmarkList1000 showed JSON decoding of records and of the
// same default profile, a transaction each, as most of a 1,000-instance list.
func (s *Service) List() ([]api.Instance, error) {
	all, err := s.expandedAll()
	if err != nil {
		return nil, err
	}
	out := make([]api.Instance, 0, len(all))
	for _, e := range all {
		st, _ := s.runtimeOf(e.Type).Status(e.key())
		out = append(out, render(e, st))
	}
	return out, nil
}

// expandedAll reads and expands every instance in one transaction; one
// whose profiles do not read is left out, as Get fails on it.
func (s *Service) expandedAll() ([]Expanded, error) {
	var all []Expanded
	err := s.db.View(func(tx *store.Tx) error {
		decoded := map[string]api.Profile{}
		for _, name := range tx.Keys(store.Instances) {
			var r Record
			if _, err := tx.Get(store.Instances, name, &r); err != nil {
				return err
			}
			if ps, err := readProfiles(tx, s.profilesProject(r.Project), r.Profiles, decoded); err == nil {
				all = append(all, expand(r, ps))
			}
		}
		return nil
	})
	return all, err
}

// PrepareCreate validates a create request and returns the work that
// creates the instance, to run as an operation. The name is reserved until
// that work ends, so of concurrent creates of one name all but the first
// are refused here, with a 409, before any operation starts. A request
// without a name gets one made up (req.Name is set), as LXD does.
func (s *Service) PrepareCreate(proj string, req *api.InstancesPost) (func(ctx context.Context) error, error) {
	return s.prepareNamed(proj, req, nil)
}

// prepareNamed names, reserves and prepares a new instance, from the
// request's source or, when from is set, from a backup.
func (s *Service) prepareNamed(proj string, req *api.InstancesPost, from origin) (func(ctx context.Context) error, error) {
	proj = project.Name(proj)
	if req.Name == "" {
		name, err := s.freeName(proj)
		if err != nil {
			return nil, err
		}
		req.Name = name
	}
	if err := validate.InstanceName(req.Name); err != nil {
		return nil, err
	}
	release, err := s.reserveName(project.StoreKey(proj, req.Name))
	if err != nil {
		return nil, err
	}
	work, err := s.prepareCreate(proj, *req, from)
	if err != nil {
		release()
		return nil, err
	}
	return func(ctx context.Context) error {
		defer release()
		return work(ctx)
	}, nil
}

// imageProfiles are the profiles of the local image src names, which an
// instance made from it without a profile list of its own gets; nil when
// the image is not here (its resolution later says why).
func (s *Service) imageProfiles(proj string, src api.InstanceSource) []string {
	ref := src.Fingerprint
	if ref == "" {
		ref = src.Alias
	}
	fp, err := s.images.Resolve(s.imagesProject(proj), ref)
	if err != nil {
		return nil
	}
	img, _, err := s.images.Get(s.imagesProject(proj), fp)
	if err != nil {
		return nil
	}
	return img.Profiles
}

func (s *Service) prepareCreate(proj string, req api.InstancesPost, from origin) (func(ctx context.Context) error, error) {
	if (req.Source.Type == "copy" || req.Source.Type == "migration") && req.Config != nil {
		// lxc copy sends the source's config back, volatile keys included
		// (a migration takes some of them back: migrating.prepare).
		req.Config = withoutVolatile(req.Config)
	}
	if req.Type == "" {
		req.Type = typeContainer
	}
	if _, err := s.runtimes.For(req.Type); err != nil {
		return nil, apierr.BadRequest("instance type %q is not supported on this host (%s)", req.Type, strings.Join(s.runtimeTypes(), ", "))
	}
	if err := keys.ValidateConfig(req.Config, false); err != nil {
		return nil, err
	}
	if err := device.Validate(req.Devices); err != nil {
		return nil, err
	}
	profiles := req.Profiles
	if profiles == nil && req.Source.Type == "image" && req.Source.Server == "" {
		profiles = s.imageProfiles(proj, req.Source) // LXD's image_profiles
	}
	if profiles == nil {
		profiles = []string{"default"}
	}
	rec := Record{Name: req.Name, Type: req.Type, Architecture: image.Architecture(), Description: req.Description,
		Config: copyMap(req.Config), Devices: req.Devices, Profiles: profiles, Ephemeral: req.Ephemeral,
		CreatedAt: time.Now().UTC()}
	if proj != project.Default {
		rec.Project = proj // the default project's records stay as they always were
	}
	var e Expanded
	err := s.db.View(func(tx *store.Tx) error {
		if tx.Exists(store.Instances, rec.key()) {
			return apierr.Conflict("instance %q already exists", req.Name)
		}
		ps, err := s.profiles(tx, proj, profiles)
		if err != nil {
			return err
		}
		e = expand(rec, ps)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if root := rootDisk(e.Devices); root == "" {
		return nil, apierr.BadRequest("instance %q has no root disk: add one (type disk, path /, pool default) or use a profile that has one", req.Name)
	}
	if err := s.checkRootPool(e); err != nil {
		return nil, err
	}
	if err := keys.ValidateConfig(e.Config, true); err != nil {
		return nil, err
	}
	if err := s.checkProject(e, ""); err != nil {
		return nil, err
	}
	// Values that only the host can judge (CPU numbers, percentages,
	// device sources, bridges).
	if _, err := s.resources(e); err != nil {
		return nil, apierr.BadRequest("%v", err)
	}
	if _, err := s.resolveDevices(e); err != nil {
		return nil, err
	}
	if from != nil {
		return from.prepare(s, rec, e)
	}
	var fp string
	switch req.Source.Type {
	case "image":
		ref := req.Source.Fingerprint
		if ref == "" {
			ref = req.Source.Alias
		}
		if req.Source.Server != "" {
			return nil, apierr.BadRequest("an image from server %s is downloaded first: this is the daemon's job (POST /1.0/instances)", req.Source.Server)
		}
		if ref == "" {
			return nil, apierr.BadRequest("source: give an image alias or fingerprint")
		}
		fp, err = s.images.Resolve(s.imagesProject(proj), ref)
		if err != nil {
			return nil, err
		}
		img, _, err := s.images.Get(s.imagesProject(proj), fp)
		if err != nil {
			return nil, err
		}
		rec.Architecture = img.Architecture
		if rec.Config == nil {
			rec.Config = map[string]string{}
		}
		for k, v := range img.Properties {
			rec.Config["image."+k] = v
		}
		rec.Config["volatile.base_image"] = fp
		rec.Config[applyTemplateKey] = "create"
		rec.Config[cloudInitIDKey] = uuid.New()
	case "copy":
		return s.prepareCopy(req, rec)
	case "none":
		if rec.Config == nil {
			rec.Config = map[string]string{}
		}
		rec.Config[cloudInitIDKey] = uuid.New()
	case "":
		return nil, apierr.BadRequest("source type is missing (image, copy or none)")
	default:
		return nil, apierr.BadRequest("source type %q is not supported yet", req.Source.Type)
	}
	if rec.IDMap, err = s.idmapFor(rec.key(), e.Config, nil); err != nil {
		return nil, err
	}
	poolName := rootPool(e.Devices)
	return func(ctx context.Context) error { return s.create(ctx, rec, fp, poolName) }, nil
}

func rootDisk(devices map[string]map[string]string) string {
	for name, d := range devices {
		if d["type"] == "disk" && d["path"] == "/" {
			return name
		}
	}
	return ""
}

func withoutVolatile(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if !strings.HasPrefix(k, "volatile.") {
			out[k] = v
		}
	}
	return out
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// create makes the volume, then the record; a failure undoes the volume.
// An image's volume is made on the pool first when it has none there.
func (s *Service) create(ctx context.Context, rec Record, fp, poolName string) error {
	defer s.pools.Hold()()
	pool, err := s.pools.Get(poolName) // again: it may have gone since the request
	if err != nil {
		return err
	}
	vol := storage.InstanceVolume(poolName, rec.Project, rec.Type, rec.Name)
	err = s.createWith(rec, nil, pool, vol, func() error {
		if fp != "" {
			if err := s.images.EnsureVolume(ctx, pool, fp); err != nil {
				return err
			}
			return pool.CreateVolumeFromImage(ctx, vol, fp, rec.IDMap)
		}
		return pool.CreateEmptyVolume(vol)
	})
	if err == nil && fp != "" {
		// A cached image expires counting from its last use.
		if terr := s.images.Touch(rec.Project, fp); terr != nil {
			s.log.Warn("record the image's last use", "image", fp, "err", terr)
		}
	}
	return err
}

// createWith runs makeVolume, then writes the record and any snapshot
// records in one transaction; a failure removes the volume again.
func (s *Service) createWith(rec Record, snaps []SnapshotRecord, pool storage.Driver, vol storage.Volume, makeVolume func() error) (err error) {
	defer s.lock(rec.key())()
	defer s.releasePending(rec.IDMap)
	var r revert.Reverter
	defer func() { err = r.Fail(err) }()
	if err := makeVolume(); err != nil {
		return fmt.Errorf("create instance %q: %w", rec.Name, err)
	}
	r.Add("the new volume", func() error { return pool.DeleteVolume(vol) })
	var e Expanded
	err = s.db.View(func(tx *store.Tx) error {
		ps, err := s.profiles(tx, rec.Project, rec.Profiles)
		e = expand(rec, ps)
		return err
	})
	if err != nil {
		return err
	}
	if size := rootSize(e); size != "" { // none: nothing to ask the driver (a fork on btrfs)
		if err := storage.SetVolumeSize(pool, vol, size); err != nil {
			return fmt.Errorf("create instance %q: %w", rec.Name, err)
		}
	}
	if rec.IDMap != nil {
		rec.Config["volatile.idmap.base"] = strconv.FormatUint(uint64(rec.IDMap.HostUID), 10)
	}
	err = s.db.Update(func(tx *store.Tx) error {
		for _, snap := range snaps {
			if err := tx.Create(store.Snapshots, snapKey(rec.key(), snap.Name), snap); err != nil {
				return err
			}
		}
		return tx.Create(store.Instances, rec.key(), rec)
	})
	if err != nil {
		return err
	}
	r.Success()
	s.linkVolume(rec.key(), pool, vol)
	// The runtime log (lxc.log) has a place from the start, so even a
	// first start that fails is recorded.
	_ = os.MkdirAll(s.LogDir(rec.key()), 0o700)
	s.log.Info("created", "instance", rec.Name)
	s.bus.Lifecycle("instance-created", instanceURL(rec.key()), nil)
	return nil
}

// linkVolume keeps LXD's $DIR/containers/<name> -> pool volume symlink.
func (s *Service) linkVolume(key string, pool storage.Driver, vol storage.Volume) {
	link := filepath.Join(s.dir, "containers", host(key))
	_ = os.MkdirAll(filepath.Dir(link), 0o711)
	_ = os.Remove(link)
	_ = os.Symlink(pool.VolumePath(vol), link)
}

// NetworksReady lets instance starts proceed (see netReady).
func (s *Service) NetworksReady() { close(s.netReady) }

// Start boots a stopped instance.
func (s *Service) Start(ctx context.Context, name string) error {
	select {
	case <-s.netReady:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer s.lock(name)()
	return s.start(ctx, name)
}

func (s *Service) start(ctx context.Context, name string) error {
	e, _, err := s.load(name)
	if err != nil {
		return err
	}
	if st, _ := s.runtimeOf(e.Type).Status(name); st != runtime.StateStopped {
		return apierr.BadRequest("instance %q is already running", name)
	}
	if err := s.checkProject(e, name); err != nil {
		return err
	}
	res, err := s.resources(e)
	if err != nil {
		return apierr.BadRequest("instance %q: %v", name, err)
	}
	if err := s.remapIfNeeded(e); err != nil {
		return err
	}
	// The root disk's size again: a restore or a crash recovery made the
	// volume anew since it was set. Without one there is nothing to do,
	// and start is a hot path.
	if rootSize(e) != "" {
		if err := s.applyRootSize(e); err != nil {
			return fmt.Errorf("instance %q: root disk size: %w", name, err)
		}
	}
	if err := s.ensureMACs(e); err != nil {
		return err
	}
	e, _, err = s.load(name)
	if err != nil {
		return err
	}
	devs, err := s.resolveDevices(e)
	if err != nil {
		return err
	}
	s.refreshHosts(e)
	if t, err := cron.ParseTriggers(e.Config["snapshots.schedule"]); err == nil && t.OnStartup {
		// @startup: a snapshot of the stopped instance, as LXD takes it.
		snap, err := s.createSnapshot(ctx, name, "", nil)
		if err != nil {
			return fmt.Errorf("snapshots.schedule @startup: %w", err)
		}
		s.log.Info("startup snapshot taken", "instance", name, "snapshot", snap)
	}
	rootfs, err := s.rootfs(e)
	if err != nil {
		return err
	}
	if err := s.applyTemplates(e, rootfs); err != nil {
		return err
	}
	spec := runtime.Spec{Name: name, Rootfs: rootfs, IDMap: e.IDMap,
		Limits: res, Nesting: keys.IsTrue(e.Config, "security.nesting"), Sysctls: sysctls(e.Config)}
	for _, dev := range device.Names(devs) {
		p, err := devs[dev].Plug(s.devEnv, deviceInstance(e))
		if err != nil {
			return err
		}
		if p != nil {
			spec.Add(p)
		}
	}
	if keys.Bool(e.Config, "security.devlxd") {
		dir, err := s.devlxd.Start(name, host(name))
		if err != nil {
			return fmt.Errorf("instance %q: /dev/lxd: %w", name, err)
		}
		spec.Add(runtime.Disk{Source: dir, Path: "/dev/lxd", ReadOnly: true})
	}
	rt := s.runtimeOf(e.Type)
	if err := rt.Start(ctx, spec); err != nil {
		s.log.Error("start failed", "instance", name, "err", err)
		s.devlxd.Stop(name)
		return err
	}
	var r revert.Reverter
	// Not the request's context: a cancelled start still stops what it began.
	r.Add("the started instance", func() error { return rt.Stop(context.Background(), name, true, 0) })
	_, pid := rt.Status(name)
	if err := s.devicesUp(e, devs, pid, &r); err != nil {
		return r.Fail(err)
	}
	r.Success()
	_ = s.db.Update(func(tx *store.Tx) error {
		var r Record
		if _, err := tx.Get(store.Instances, name, &r); err != nil {
			return err
		}
		r.LastUsedAt = time.Now().UTC()
		r.Config["volatile.last_state.power"] = "RUNNING"
		_, err := tx.Put(store.Instances, name, r, 0)
		return err
	})
	s.log.Info("started", "instance", name, "init_pid", pid)
	s.autostartResolved(name)
	s.bus.Lifecycle("instance-started", instanceURL(name), nil)
	return nil
}

// rootfs is the instance's root filesystem, mounted.
func (s *Service) rootfs(e Expanded) (string, error) {
	pool, vol, err := s.poolOf(e)
	if err != nil {
		return "", err
	}
	if err := pool.MountVolume(vol); err != nil {
		return "", fmt.Errorf("mount the volume of %q: %w", e.Name, err)
	}
	return filepath.Join(pool.VolumePath(vol), "rootfs"), nil
}

// remapIfNeeded shifts the rootfs when security.privileged changed while
// the instance was stopped.
func (s *Service) remapIfNeeded(e Expanded) error {
	want, err := s.idmapFor(e.key(), e.Config, e.IDMap)
	if err != nil {
		return err
	}
	defer s.releasePending(want)
	if idmap.Equal(want, e.IDMap) {
		return nil
	}
	pool, vol, err := s.poolOf(e)
	if err != nil {
		return err
	}
	if err := pool.RemapVolume(vol, e.IDMap, want); err != nil {
		return err
	}
	return s.db.Update(func(tx *store.Tx) error {
		var r Record
		if _, err := tx.Get(store.Instances, e.key(), &r); err != nil {
			return err
		}
		r.IDMap = want
		delete(r.Config, "volatile.idmap.base")
		if want != nil {
			r.Config["volatile.idmap.base"] = strconv.FormatUint(uint64(want.HostUID), 10)
		}
		_, err := tx.Put(store.Instances, e.key(), r, 0)
		return err
	})
}

// Stop shuts an instance down (see runtime.Runtime.Stop). A negative
// timeout means boot.host_shutdown_timeout (30 s by default).
func (s *Service) Stop(ctx context.Context, name string, force bool, timeout time.Duration) error {
	defer s.lock(name)()
	return s.stop(ctx, name, force, timeout)
}

func (s *Service) stop(ctx context.Context, name string, force bool, timeout time.Duration) error {
	e, _, err := s.load(name)
	if err != nil {
		return err
	}
	if st, _ := s.runtimeOf(e.Type).Status(name); st == runtime.StateStopped {
		return apierr.BadRequest("instance %q is not running", name)
	}
	if timeout < 0 {
		timeout = s.defStop
		if v, err := strconv.Atoi(e.Config["boot.host_shutdown_timeout"]); err == nil && v > 0 {
			timeout = time.Duration(v) * time.Second
		}
	}
	s.log.Info("stopping", "instance", name, "force", force, "timeout", timeout)
	if err := s.runtimeOf(e.Type).Stop(ctx, name, force, timeout); err != nil {
		s.log.Error("stop failed", "instance", name, "err", err)
		return err
	}
	_ = s.setPower(name, "STOPPED")
	return nil
}

func (s *Service) setPower(name, state string) error {
	return s.db.Update(func(tx *store.Tx) error {
		var r Record
		if _, err := tx.Get(store.Instances, name, &r); err != nil {
			return err
		}
		r.Config["volatile.last_state.power"] = state
		_, err := tx.Put(store.Instances, name, r, 0)
		return err
	})
}

// Restart stops and starts an instance.
func (s *Service) Restart(ctx context.Context, name string, force bool, timeout time.Duration) error {
	defer s.lock(name)()
	s.mu.Lock()
	s.restarting[name] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.restarting, name)
		s.mu.Unlock()
	}()
	if err := s.stop(ctx, name, force, timeout); err != nil {
		return err
	}
	if err := s.start(ctx, name); err != nil {
		return err
	}
	s.bus.Lifecycle("instance-restarted", instanceURL(name), nil)
	return nil
}

// Freeze pauses a running instance.
func (s *Service) Freeze(ctx context.Context, name string) error {
	defer s.lock(name)()
	e, _, err := s.load(name)
	if err != nil {
		return err
	}
	rt := s.runtimeOf(e.Type)
	if st, _ := rt.Status(name); st != runtime.StateRunning {
		return apierr.BadRequest("instance %q is not running", name)
	}
	if err := rt.Freeze(ctx, name); err != nil {
		return err
	}
	s.bus.Lifecycle("instance-paused", instanceURL(name), nil)
	return nil
}

// Unfreeze resumes a frozen instance.
func (s *Service) Unfreeze(ctx context.Context, name string) error {
	defer s.lock(name)()
	e, _, err := s.load(name)
	if err != nil {
		return err
	}
	rt := s.runtimeOf(e.Type)
	if st, _ := rt.Status(name); st != runtime.StateFrozen {
		return apierr.BadRequest("instance %q is not frozen", name)
	}
	if err := rt.Unfreeze(ctx, name); err != nil {
		return err
	}
	s.bus.Lifecycle("instance-resumed", instanceURL(name), nil)
	return nil
}

// onExit runs when a container's init has ended, whoever ended it.
func (s *Service) onExit(name string) {
	s.mu.Lock()
	restarting, shutdown := s.restarting[name], s.hostShutdown
	s.mu.Unlock()
	r, _, err := store.Get[Record](s.db, store.Instances, name)
	if err != nil {
		return
	}
	if !shutdown && !restarting {
		_ = s.setPower(name, "STOPPED")
	}
	s.devicesDown(name)
	s.devlxd.Stop(name)
	s.log.Info("stopped: init exited", "instance", name)
	s.bus.Lifecycle("instance-stopped", instanceURL(name), nil)
	if r.Ephemeral && !restarting {
		go func() {
			// A delete --force of the ephemeral instance may have won.
			if err := s.Delete(name); err != nil && !errors.Is(err, apierr.ErrNotFound) {
				s.log.Warn("delete ephemeral instance", "instance", name, "err", err)
			}
		}()
	}
}

// Delete removes a stopped instance: volume, record, logs.
func (s *Service) Delete(name string) error {
	defer s.lock(name)()
	e, _, err := s.load(name)
	if err != nil {
		return err
	}
	if keys.IsTrue(e.Config, "security.protection.delete") {
		return apierr.BadRequest("instance %q is protected (security.protection.delete=true): unset it to delete", name)
	}
	if st, _ := s.status(name); st != runtime.StateStopped {
		return apierr.BadRequest("instance %q is running: stop it first (or delete --force)", name)
	}
	// The records go first: a crash after them leaves a volume without a
	// record, which start-up repair removes.
	err = s.db.Update(func(tx *store.Tx) error {
		for _, k := range snapshotKeys(tx, name) {
			if err := tx.Delete(store.Snapshots, k); err != nil {
				return err
			}
		}
		for _, k := range tx.KeysWithPrefix(store.Backups, name+"/") {
			if err := tx.Delete(store.Backups, k); err != nil {
				return err
			}
		}
		return tx.Delete(store.Instances, name)
	})
	if err != nil {
		return err
	}
	_ = os.RemoveAll(s.backupsDir(name))
	crashpoint.Hit("delete.records-gone")
	if pool, vol, err := s.poolOf(e); err != nil {
		s.log.Warn("delete volume", "instance", name, "err", err)
	} else if err := pool.DeleteVolume(vol); err != nil {
		s.log.Warn("delete volume", "instance", name, "err", err)
	}
	_ = os.RemoveAll(s.LogDir(name))
	_ = os.RemoveAll(s.devicesDir(name))
	s.devlxd.Remove(host(name))
	_ = os.Remove(filepath.Join(s.dir, "containers", host(name)))
	s.refreshHosts(e)
	s.releaseLeases(e, Expanded{})
	s.bus.Lifecycle("instance-deleted", instanceURL(name), nil)
	s.autostartResolved(name)
	return nil
}

// Rename renames a stopped instance.
func (s *Service) Rename(name, newName string) error {
	if err := validate.InstanceName(newName); err != nil {
		return err
	}
	proj, oldName := project.SplitKey(name)
	newKey := project.StoreKey(proj, newName)
	defer s.lock(name)()
	if st, _ := s.status(name); st != runtime.StateStopped {
		return apierr.BadRequest("instance %q is running: stop it before renaming", name)
	}
	var r Record
	err := s.db.View(func(tx *store.Tx) error {
		if _, err := tx.Get(store.Instances, name, &r); err != nil {
			return err
		}
		if tx.Exists(store.Instances, newKey) || s.isReserved(newKey) {
			return apierr.Conflict("instance %q already exists", newName)
		}
		return nil
	})
	if err != nil {
		return err
	}
	pool, vol, err := s.poolFor(name)
	if err != nil {
		return err
	}
	// The intent goes first: a crash after the volume moved and before
	// the records did makes start-up move the volume back (see intent).
	in := intent{Op: intentRename, Instance: name, NewName: newName}
	if err := s.db.Update(func(tx *store.Tx) error { return putIntent(tx, in) }); err != nil {
		return err
	}
	if err := pool.RenameVolume(vol, newName); err != nil {
		_ = s.db.Update(func(tx *store.Tx) error { return dropIntent(tx, name) })
		return err
	}
	crashpoint.Hit("rename.volume-moved")
	r.Name = newName
	if r.Config == nil {
		r.Config = map[string]string{}
	}
	r.Config[applyTemplateKey] = "rename"
	r.Config[cloudInitIDKey] = uuid.New() // a new instance to cloud-init, as in LXD
	err = s.db.Update(func(tx *store.Tx) error {
		if err := dropIntent(tx, name); err != nil {
			return err
		}
		if err := tx.Create(store.Instances, newKey, r); err != nil {
			return err
		}
		for _, k := range snapshotKeys(tx, name) {
			var snap SnapshotRecord
			if _, err := tx.Get(store.Snapshots, k, &snap); err != nil {
				return err
			}
			snap.Instance = newKey
			if err := tx.Create(store.Snapshots, snapKey(newKey, snap.Name), snap); err != nil {
				return err
			}
			if err := tx.Delete(store.Snapshots, k); err != nil {
				return err
			}
		}
		if err := moveBackups(tx, name, newKey); err != nil {
			return err
		}
		if err := tx.Delete(store.Instances, name); err != nil {
			return err
		}
		// Last: the backups' tarballs follow their records.
		if err := os.Rename(s.backupsDir(name), s.backupsDir(newKey)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	})
	if err != nil {
		_ = os.Rename(s.backupsDir(newKey), s.backupsDir(name)) // if it moved before the commit failed
		if uerr := pool.UndoRename(vol, newName); uerr == nil {
			_ = s.db.Update(func(tx *store.Tx) error { return dropIntent(tx, name) })
		}
		return err
	}
	_ = os.Rename(s.LogDir(name), s.LogDir(newKey))
	_ = os.RemoveAll(s.devicesDir(name))
	s.devlxd.Remove(host(name))
	_ = os.Remove(filepath.Join(s.dir, "containers", host(name)))
	s.linkVolume(newKey, pool, vol.Renamed(newName))
	if e, _, err := s.load(newKey); err == nil {
		s.refreshHosts(e)
	}
	s.bus.Lifecycle("instance-renamed", instanceURL(newKey), map[string]any{"old_name": oldName})
	return nil
}

// Update replaces an instance's writable fields (PUT). Live keys reach a
// running instance at once; if that fails the old record comes back.
func (s *Service) Update(name string, put api.InstancePut, ifRev uint64) (err error) {
	// Clients send back the volatile.* keys they read; those stay the daemon's.
	put.Config = withoutVolatile(put.Config)
	if err := keys.ValidateConfig(put.Config, false); err != nil {
		return err
	}
	if err := device.Validate(put.Devices); err != nil {
		return err
	}
	defer s.pools.Hold()() // a custom volume it attaches cannot go meanwhile
	defer s.lock(name)()
	old, _, err := s.load(name)
	if err != nil {
		return err
	}
	status, _ := s.runtimeOf(old.Type).Status(name)
	running := status != runtime.StateStopped

	newRec := old.Record
	newRec.Config = copyMap(put.Config)
	for k, v := range old.Record.Config {
		if strings.HasPrefix(k, "volatile.") {
			newRec.Config[k] = v
		}
	}
	newRec.Devices = put.Devices
	if put.Profiles != nil {
		newRec.Profiles = put.Profiles
	}
	newRec.Description = put.Description
	newRec.Ephemeral = put.Ephemeral

	var e Expanded
	err = s.db.View(func(tx *store.Tx) error {
		ps, err := s.profiles(tx, newRec.Project, newRec.Profiles)
		if err != nil {
			return err
		}
		e = expand(newRec, ps)
		return nil
	})
	if err != nil {
		return err
	}
	if rootDisk(e.Devices) == "" {
		return apierr.BadRequest("instance %q would have no root disk", name)
	}
	if err := samePool(old, e); err != nil {
		return err
	}
	if err := s.checkProject(e, name); err != nil {
		return err
	}
	if rootSize(old) != rootSize(e) {
		// Before the record: a size the volume cannot take (it holds
		// more) is refused with nothing changed.
		if err := s.applyRootSize(e); err != nil {
			return err
		}
		defer func() {
			if err != nil {
				_ = s.applyRootSize(old)
			}
		}()
	}
	if running {
		for k, key := range keys.Table {
			if key.NeedsStop && old.Config[k] != e.Config[k] {
				return apierr.BadRequest("%s cannot change while instance %q runs: stop it first", k, name)
			}
		}
	}
	res, err := s.resources(e)
	if err != nil {
		return apierr.BadRequest("%v", err)
	}
	if _, err := s.resolveDevices(e); err != nil {
		return err
	}
	err = s.db.Update(func(tx *store.Tx) error {
		_, err := tx.Put(store.Instances, name, newRec, ifRev)
		return err
	})
	if err != nil {
		return err
	}
	if running {
		if err := s.ensureMACs(e); err != nil {
			return err
		}
		e, _, _ = s.load(name)
		if oldRes, rerr := s.resources(old); rerr == nil {
			limits.ClearDropped(res, oldRes)
		}
		err := s.runtimeOf(e.Type).ApplyLimits(name, res)
		if err == nil {
			err = s.hotplug(old, e) // takes back its own steps when it fails
		}
		if err != nil {
			// Put the old record and limits back.
			_ = s.db.Update(func(tx *store.Tx) error {
				_, err := tx.Put(store.Instances, name, old.Record, 0)
				return err
			})
			if oldRes, rerr := s.resources(old); rerr == nil {
				_ = s.runtimeOf(e.Type).ApplyLimits(name, oldRes)
			}
			return apierr.BadRequest("%v", err)
		}
	}
	if cur, _, err := s.load(name); err == nil {
		s.refreshHosts(old, cur)
		s.releaseLeases(old, cur)
	}
	s.bus.Lifecycle("instance-updated", instanceURL(name), nil)
	return nil
}

// resources is the full resource set of an expanded instance:
// its limits.* keys and its disks' I/O limits.
func (s *Service) resources(e Expanded) (*limits.Resources, error) {
	res, err := limits.FromConfig(e.Config, s.host)
	if err != nil {
		return nil, err
	}
	for name, d := range e.Devices {
		if d["type"] != "disk" {
			continue
		}
		read, write := d["limits.read"], d["limits.write"]
		if m := d["limits.max"]; m != "" {
			read, write = m, m
		}
		if read == "" && write == "" {
			continue
		}
		src := d["source"]
		if d["path"] == "/" {
			// The pool's directory: on the same device as the volume, and
			// there before the volume is.
			pool, vol, err := s.poolOf(e)
			if err != nil {
				return nil, err
			}
			src = filepath.Dir(pool.VolumePath(vol))
		}
		major, minor, err := limits.BlockDevice(src)
		if err != nil {
			return nil, fmt.Errorf("device %q: %w", name, err)
		}
		if err := limits.AddThrottle(res, major, minor, read, write); err != nil {
			return nil, fmt.Errorf("device %q: %w", name, err)
		}
	}
	return res, nil
}

// applyLive brings a running instance from its old expanded state to its
// current one (limits and devices); strict makes a config that does not
// validate an error.
func (s *Service) applyLive(name string, old Expanded, strict bool) error {
	defer s.lock(name)()
	e, _, err := s.load(name)
	if err != nil {
		return err
	}
	if strict {
		if err := keys.ValidateConfig(e.Config, true); err != nil {
			return err
		}
		if rootDisk(e.Devices) == "" {
			return fmt.Errorf("it would have no root disk")
		}
		if err := samePool(old, e); err != nil {
			return err
		}
		if _, err := s.resolveDevices(e); err != nil {
			return err
		}
	}
	if rootSize(old) != rootSize(e) {
		if err := s.applyRootSize(e); err != nil {
			return err
		}
	}
	if st, _ := s.runtimeOf(e.Type).Status(name); st == runtime.StateStopped {
		return nil
	}
	res, err := s.resources(e)
	if err != nil {
		return err
	}
	if oldRes, rerr := s.resources(old); rerr == nil {
		limits.ClearDropped(res, oldRes)
	}
	if err := s.runtimeOf(e.Type).ApplyLimits(name, res); err != nil {
		return err
	}
	if err := s.ensureMACs(e); err != nil {
		return err
	}
	e, _, _ = s.load(name)
	return s.hotplug(old, e)
}

// Status is the runtime state of an instance.
func (s *Service) Status(name string) (string, int) { return s.status(name) }

// Running lists running instances in name order.
func (s *Service) Running() []string {
	names, _ := s.Names()
	var out []string
	for _, n := range names {
		if st, _ := s.status(n); st != runtime.StateStopped {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Expanded returns the expanded instance.
func (s *Service) Expanded(name string) (Expanded, error) {
	e, _, err := s.load(name)
	return e, err
}
