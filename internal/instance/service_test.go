package instance

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/event"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/instance/runtime/runtimetest"
	"github.com/lodge-project/lodge/internal/limits"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/storage/storagetest"
	"github.com/lodge-project/lodge/internal/store"
)

// harness is an instance service over a real store in a temporary
// directory, an in-memory runtime per instance type and in-memory storage.
type harness struct {
	*Service
	rt    *runtimetest.Fake
	vm    *runtimetest.Fake
	pool  *storagetest.Memory // the default pool's driver
	pools *storage.Pools
	db    *store.Store
}

// containersOnly is a driver that reports container volumes only.
type containersOnly struct{ *storagetest.Memory }

func (containersOnly) Capabilities() storage.Capabilities {
	return storage.Capabilities{VolumeTypes: []storage.VolumeType{storage.TypeContainer, storage.TypeImage}}
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "lodge.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h := &harness{rt: runtimetest.New(), vm: runtimetest.New(), pool: storagetest.NewMemory(filepath.Join(dir, "pool")), db: db}
	// Adding an instance type is one runtime and one registry line: the
	// second one here stands for virtual machines.
	runtimes := runtime.Registry{"container": h.rt, "virtual-machine": h.vm}
	// Likewise a storage driver: the in-memory one, under the name the
	// default pool is recorded with, and again as "memory" for new pools.
	drivers := storage.Registry{
		"dir":    storage.Plain(func(string) (storage.Driver, error) { return h.pool, nil }),
		"memory": storage.Plain(func(path string) (storage.Driver, error) { return storagetest.NewMemory(path), nil }),
		"fs-only": storage.Plain(func(path string) (storage.Driver, error) {
			return containersOnly{storagetest.NewMemory(path)}, nil
		}),
	}
	h.pools = storage.NewPools(db, dir, drivers)
	h.Service = NewService(Deps{DB: db, Pools: h.pools, Runtimes: runtimes, Bus: event.NewBus(), Dir: dir, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		IDMap: idmap.Map{HostUID: 1000000, HostGID: 1000000, Size: idmap.Size * 10},
		Host:  limits.Host{CPUs: 2, MemoryBytes: 8 << 30, SwapAccounting: true}})
	if err := h.EnsureDefaultProfile(); err != nil {
		t.Fatal(err)
	}
	h.NetworksReady()
	return h
}

// create makes an empty instance (source none) the way a create request
// does: validate, then run the operation's work.
func (h *harness) create(t *testing.T, req api.InstancesPost) error {
	t.Helper()
	return h.createIn(t, project.Default, req)
}

// createIn makes an empty instance in project proj.
func (h *harness) createIn(t *testing.T, proj string, req api.InstancesPost) error {
	t.Helper()
	if req.Source.Type == "" {
		req.Source.Type = "none"
	}
	work, err := h.PrepareCreate(proj, &req)
	if err != nil {
		return err
	}
	return work(context.Background())
}

func (h *harness) mustCreate(t *testing.T, req api.InstancesPost) {
	t.Helper()
	if err := h.create(t, req); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) record(t *testing.T, name string) Record {
	t.Helper()
	r, _, err := store.Get[Record](h.db, store.Instances, name)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// statusCode is the HTTP status err becomes (200 for nil).
func statusCode(err error) int { return apierr.Status(err) }

// writable is what a client PUTs back after a GET.
func writable(i api.Instance) api.InstancePut {
	return api.InstancePut{Config: copyMap(i.Config), Devices: i.Devices, Profiles: i.Profiles, Description: i.Description, Ephemeral: i.Ephemeral}
}

func TestLifecycleReachesTheRuntime(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.mustCreate(t, api.InstancesPost{Name: "c1", InstancePut: api.InstancePut{Config: map[string]string{"limits.memory": "256MiB"}}})
	if _, ok := h.pool.Volume("c1"); !ok || h.record(t, "c1").IDMap == nil {
		t.Fatalf("after create: volume %v, id map %v", ok, h.record(t, "c1").IDMap)
	}
	if err := h.Start(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	got := h.rt.Instance("c1")
	if got.State != runtime.StateRunning || got.Spec.Rootfs != filepath.Join(h.pool.VolumePath(storage.InstanceVolume("default", "", "container", "c1")), "rootfs") {
		t.Fatalf("runtime after start: %+v", got)
	}
	if got.Limits.Memory != 256<<20 || got.Spec.IDMap == nil {
		t.Fatalf("start spec: limits %+v, map %v", got.Limits, got.Spec.IDMap)
	}
	if v, _ := h.pool.Volume("c1"); !v.Mounted {
		t.Fatal("started on an unmounted volume")
	}
	if p := h.record(t, "c1").Config["volatile.last_state.power"]; p != "RUNNING" {
		t.Fatalf("power after start: %q", p)
	}
	if err := h.Start(ctx, "c1"); statusCode(err) != http.StatusBadRequest {
		t.Fatalf("second start: %v", err)
	}
	if err := h.Freeze(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if st, _ := h.Status("c1"); st != runtime.StateFrozen {
		t.Fatalf("after freeze: %s", st)
	}
	if err := h.Unfreeze(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	// A live limit reaches the running instance.
	inst, rev, err := h.Get("c1")
	if err != nil {
		t.Fatal(err)
	}
	// LXD's idmap keys show on the one instance (lxc copy --refresh sends
	// them back, and an LXD target wants them kept), not in lists; an
	// update that carries them back ignores them.
	for _, k := range []string{"volatile.idmap.current", "volatile.idmap.next", "volatile.last_state.idmap"} {
		if v := inst.Config[k]; !strings.HasPrefix(v, "[") || v != inst.ExpandedConfig[k] {
			t.Errorf("%s of c1: %q (expanded %q)", k, v, inst.ExpandedConfig[k])
		}
	}
	if all, _ := h.List(); len(all) != 1 || all[0].Config["volatile.last_state.idmap"] != "" {
		t.Errorf("a list shows LXD's idmap keys: %v", all)
	}
	put := writable(inst)
	put.Config["limits.memory"] = "512MiB"
	if err := h.Update("c1", put, rev); err != nil {
		t.Fatal(err)
	}
	if l := h.rt.Instance("c1").Limits; l.Memory != 512<<20 {
		t.Fatalf("live limit: %d", l.Memory)
	}
	st, err := h.State("c1")
	if err != nil || st.Status != "Running" || st.Pid == 0 || st.Processes != 1 {
		t.Fatalf("state: %+v %v", st, err)
	}
	if err := h.Delete("c1"); statusCode(err) != http.StatusBadRequest {
		t.Fatalf("delete of a running instance: %v", err)
	}
	if err := h.Stop(ctx, "c1", false, -1); err != nil {
		t.Fatal(err)
	}
	if p := h.record(t, "c1").Config["volatile.last_state.power"]; p != "STOPPED" {
		t.Fatalf("power after stop: %q", p)
	}
	if err := h.Delete("c1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.pool.Volume("c1"); ok {
		t.Fatal("volume outlived its instance")
	}
}

func TestFailedStartLeavesItStopped(t *testing.T) {
	h := newHarness(t)
	h.mustCreate(t, api.InstancesPost{Name: "c1"})
	h.rt.FailStart = errors.New("no init")
	if err := h.Start(context.Background(), "c1"); err == nil {
		t.Fatal("start succeeded")
	}
	if st, _ := h.Status("c1"); st != runtime.StateStopped {
		t.Fatalf("after a failed start: %s", st)
	}
	if p := h.record(t, "c1").Config["volatile.last_state.power"]; p == "RUNNING" {
		t.Fatal("a failed start was recorded as running")
	}
	if err := h.Start(context.Background(), "c1"); err != nil {
		t.Fatalf("start after a failed one: %v", err)
	}
}

// A live change the runtime refuses leaves the record and the running
// instance as they were.
func TestFailedLiveUpdatePutsTheRecordBack(t *testing.T) {
	h := newHarness(t)
	h.mustCreate(t, api.InstancesPost{Name: "c1", InstancePut: api.InstancePut{Config: map[string]string{"limits.memory": "256MiB", "security.devlxd": "false"}}})
	if err := h.Start(context.Background(), "c1"); err != nil {
		t.Fatal(err)
	}
	inst, rev, _ := h.Get("c1")
	put := writable(inst)
	put.Config["limits.memory"] = "1GiB"
	h.rt.FailLimits = errors.New("cgroup refused")
	if err := h.Update("c1", put, rev); statusCode(err) != http.StatusBadRequest {
		t.Fatalf("update: %v", err)
	}
	if v := h.record(t, "c1").Config["limits.memory"]; v != "256MiB" {
		t.Fatalf("record after a failed update: %q", v)
	}
	if l := h.rt.Instance("c1").Limits; l.Memory != 256<<20 {
		t.Fatalf("limits after a failed update: %d", l.Memory)
	}
	// A device the runtime cannot plug: the record comes back too.
	inst, rev, _ = h.Get("c1")
	put = writable(inst)
	put.Devices["data"] = map[string]string{"type": "disk", "source": t.TempDir(), "path": "/data"}
	h.rt.FailAttach = errors.New("mount refused")
	if err := h.Update("c1", put, rev); err == nil {
		t.Fatal("update with a failing attach succeeded")
	}
	if _, ok := h.record(t, "c1").Devices["data"]; ok {
		t.Fatal("the device that failed to attach stayed in the record")
	}
	if n := len(h.rt.Instance("c1").Devices); n != 0 {
		t.Fatalf("devices plugged after a failed attach: %d", n)
	}
}

func TestFailedCreateLeavesNothing(t *testing.T) {
	h := newHarness(t)
	h.pool.FailCreate = errors.New("disk full")
	if err := h.create(t, api.InstancesPost{Name: "c1"}); err == nil {
		t.Fatal("create succeeded")
	}
	if names, _ := h.Names(); len(names) != 0 {
		t.Fatalf("records after a failed create: %v", names)
	}
	if vols, _ := h.pool.VolumeNames(storage.TypeContainer); len(vols) != 0 {
		t.Fatalf("volumes after a failed create: %v", vols)
	}
	h.mustCreate(t, api.InstancesPost{Name: "c1"}) // the name is free again
}

func TestInstanceTypesHaveTheirOwnRuntime(t *testing.T) {
	h := newHarness(t)
	h.mustCreate(t, api.InstancesPost{Name: "v1", Type: "virtual-machine"})
	h.mustCreate(t, api.InstancesPost{Name: "c1"})
	ctx := context.Background()
	for _, n := range []string{"v1", "c1"} {
		if err := h.Start(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if h.vm.Instance("v1").State != runtime.StateRunning || h.rt.Instance("v1").State != runtime.StateStopped {
		t.Fatal("the VM did not start on its own runtime")
	}
	if h.rt.Instance("c1").State != runtime.StateRunning || h.vm.Instance("c1").State != runtime.StateStopped {
		t.Fatal("the container did not start on its own runtime")
	}
	if inst, _, _ := h.Get("v1"); inst.Type != "virtual-machine" || inst.Status != "Running" {
		t.Fatalf("VM reads as %s, %s", inst.Type, inst.Status)
	}
	if err := h.Stop(ctx, "v1", true, 0); err != nil {
		t.Fatal(err)
	}
	if h.vm.Instance("v1").State != runtime.StateStopped || h.rt.Instance("c1").State != runtime.StateRunning {
		t.Fatal("stopping the VM reached the wrong runtime")
	}
	err := h.create(t, api.InstancesPost{Name: "x1", Type: "unikernel"})
	if statusCode(err) != http.StatusBadRequest {
		t.Fatalf("an instance type without a runtime: %v", err)
	}
	// A pool whose driver does not report VM volumes takes no VM.
	if err := h.pools.Create(context.Background(), storage.PoolRecord{Name: "fs", Driver: "fs-only"}); err != nil {
		t.Fatal(err)
	}
	root := map[string]map[string]string{"root": {"type": "disk", "path": "/", "pool": "fs"}}
	err = h.create(t, api.InstancesPost{Name: "v2", Type: "virtual-machine", InstancePut: api.InstancePut{Devices: root}})
	if statusCode(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "cannot hold virtual-machine volumes") {
		t.Fatalf("a VM on a pool without VM volumes: %v", err)
	}
	h.mustCreate(t, api.InstancesPost{Name: "c2", InstancePut: api.InstancePut{Devices: root}})
}

// An instance that halts on its own is recorded as stopped, and its
// restart policy is not lodged's to apply.
func TestExitIsRecorded(t *testing.T) {
	h := newHarness(t)
	h.mustCreate(t, api.InstancesPost{Name: "c1"})
	if err := h.Start(context.Background(), "c1"); err != nil {
		t.Fatal(err)
	}
	h.rt.Exit("c1")
	if p := h.record(t, "c1").Config["volatile.last_state.power"]; p != "STOPPED" {
		t.Fatalf("power after an exit: %q", p)
	}
	if st, _ := h.Status("c1"); st != runtime.StateStopped {
		t.Fatalf("status after an exit: %s", st)
	}
}

func TestSnapshotsAndRestoreReachTheVolume(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.mustCreate(t, api.InstancesPost{Name: "c1"})
	snap, err := h.CreateSnapshot(ctx, "c1", "", nil)
	if err != nil || snap != "snap0" {
		t.Fatalf("snapshot: %q %v", snap, err)
	}
	if v, _ := h.pool.Volume("c1"); len(v.Snapshots) != 1 {
		t.Fatalf("volume snapshots: %v", v.Snapshots)
	}
	if err := h.Start(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	// Restoring a running instance stops it, restores, starts it again.
	if err := h.RestoreSnapshot(ctx, "c1", "snap0"); err != nil {
		t.Fatal(err)
	}
	if st, _ := h.Status("c1"); st != runtime.StateRunning {
		t.Fatalf("after restoring a running instance: %s", st)
	}
	if err := h.RestoreSnapshot(ctx, "c1", "nope"); statusCode(err) != http.StatusBadRequest {
		t.Fatalf("restore of a missing snapshot: %v", err)
	}
	if err := h.Stop(ctx, "c1", true, 0); err != nil {
		t.Fatal(err)
	}
	if err := h.Rename("c1", "c2"); err != nil {
		t.Fatal(err)
	}
	if v, ok := h.pool.Volume("c2"); !ok || len(v.Snapshots) != 1 {
		t.Fatalf("volume after rename: %+v %v", v, ok)
	}
	if snaps, err := h.Snapshots("c2"); err != nil || len(snaps) != 1 {
		t.Fatalf("snapshots after rename: %v %v", snaps, err)
	}
}

// Devices added to and removed from a running instance reach its runtime,
// each through its device type.
func TestHotplugThroughDeviceTypes(t *testing.T) {
	h := newHarness(t)
	// Without /dev/lxd, whose folder is plugged too (TestDevLXDFolderIsMounted).
	h.mustCreate(t, api.InstancesPost{Name: "c1", InstancePut: api.InstancePut{Config: map[string]string{"security.devlxd": "false"}}})
	if err := h.Start(context.Background(), "c1"); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	inst, rev, _ := h.Get("c1")
	put := writable(inst)
	put.Devices["data"] = map[string]string{"type": "disk", "source": src, "path": "/data"}
	put.Devices["null"] = map[string]string{"type": "unix-char", "path": "/dev/mynull", "major": "1", "minor": "3"}
	if err := h.Update("c1", put, rev); err != nil {
		t.Fatal(err)
	}
	plugged := h.rt.Instance("c1").Devices
	if len(plugged) != 2 || plugged[0] != (runtime.Disk{Source: src, Path: "/data"}) {
		t.Fatalf("plugged after the update: %+v", plugged)
	}
	if u, ok := plugged[1].(runtime.UnixDev); !ok || u.Source == "" || u.Major != 1 {
		t.Fatalf("unix device plugged as %+v (without a node of its own?)", plugged[1])
	}
	inst, rev, _ = h.Get("c1")
	put = writable(inst)
	delete(put.Devices, "data")
	if err := h.Update("c1", put, rev); err != nil {
		t.Fatal(err)
	}
	if plugged := h.rt.Instance("c1").Devices; len(plugged) != 1 {
		t.Fatalf("plugged after removing the disk: %+v", plugged)
	}
	// A restart plugs what the config says, at start.
	if err := h.Restart(context.Background(), "c1", true, 0); err != nil {
		t.Fatal(err)
	}
	if spec := h.rt.Instance("c1").Spec; len(spec.UnixDevs) != 1 || len(spec.Disks) != 0 {
		t.Fatalf("start spec after restart: %+v", spec)
	}
}

// An instance's volume is on the pool its root disk names; a pool in use
// cannot go, an unused one can, and a root disk cannot move by an edit.
func TestInstancesOnTheirRootDisksPool(t *testing.T) {
	h := newHarness(t)
	if err := h.pools.Create(context.Background(), storage.PoolRecord{Name: "fast", Driver: "memory"}); err != nil {
		t.Fatal(err)
	}
	fast, err := h.pools.Get("fast")
	if err != nil {
		t.Fatal(err)
	}
	root := map[string]map[string]string{"root": {"type": "disk", "path": "/", "pool": "fast"}}
	h.mustCreate(t, api.InstancesPost{Name: "c1", InstancePut: api.InstancePut{Devices: root}})
	h.mustCreate(t, api.InstancesPost{Name: "c2"})
	if names, _ := fast.VolumeNames(storage.TypeContainer); len(names) != 1 || names[0] != "c1" {
		t.Fatalf("volumes on the new pool: %v", names)
	}
	if _, ok := h.pool.Volume("c1"); ok {
		t.Fatal("c1's volume landed on the default pool")
	}
	if err := h.Start(context.Background(), "c1"); err != nil {
		t.Fatal(err)
	}
	if spec := h.rt.Instance("c1").Spec; spec.Rootfs != filepath.Join(fast.VolumePath(storage.InstanceVolume("fast", "", "container", "c1")), "rootfs") {
		t.Fatalf("c1 started on %s", spec.Rootfs)
	}
	users, _ := h.PoolUsers("fast")
	if len(users) != 1 || users[0] != "/1.0/instances/c1" {
		t.Fatalf("users of the pool: %v", users)
	}
	if err := h.DeletePool("fast"); statusCode(err) != http.StatusBadRequest {
		t.Fatalf("deleting a pool in use: %v", err)
	}
	inst, rev, _ := h.Get("c1")
	put := writable(inst)
	put.Devices["root"]["pool"] = "default"
	if err := h.Update("c1", put, rev); statusCode(err) != http.StatusBadRequest {
		t.Fatalf("moving the root disk by an edit: %v", err)
	}
	missing := map[string]map[string]string{"root": {"type": "disk", "path": "/", "pool": "nope"}}
	if err := h.create(t, api.InstancesPost{Name: "c3", InstancePut: api.InstancePut{Devices: missing}}); statusCode(err) != http.StatusBadRequest {
		t.Fatalf("an instance on a missing pool: %v", err)
	}
	if err := h.CreateProfile("", api.ProfilesPost{Name: "p", ProfilePut: api.ProfilePut{Devices: missing}}); statusCode(err) != http.StatusBadRequest {
		t.Fatalf("a profile on a missing pool: %v", err)
	}
	if err := h.Stop(context.Background(), "c1", true, 0); err != nil {
		t.Fatal(err)
	}
	if err := h.Delete("c1"); err != nil {
		t.Fatal(err)
	}
	if err := h.DeletePool("fast"); err != nil {
		t.Fatal(err)
	}
	if h.pools.Exists("fast") {
		t.Fatal("the deleted pool is still recorded")
	}
}

// Instances of one name in two projects are two instances: their records,
// runtime names, volumes, log folders, veths and events never meet.
func TestProjectsKeepInstancesApart(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	sub := h.bus.Subscribe(nil)
	defer sub.Close()
	h.mustCreate(t, api.InstancesPost{Name: "c1"})
	// A project's instances take its own profiles: web's default has a
	// memory limit the default project's does not.
	if err := h.createIn(t, "web", api.InstancesPost{Name: "c1"}); statusCode(err) != http.StatusBadRequest {
		t.Fatalf("an instance in a project without a default profile: %v", err)
	}
	webDefault := api.ProfilesPost{Name: "default", ProfilePut: api.ProfilePut{Config: map[string]string{"limits.memory": "64MiB"},
		Devices: map[string]map[string]string{"root": {"type": "disk", "path": "/", "pool": "default"}}}}
	if err := h.CreateProfile("web", webDefault); err != nil {
		t.Fatal(err)
	}
	if err := h.createIn(t, "web", api.InstancesPost{Name: "c1"}); err != nil {
		t.Fatal(err)
	}
	if e, err := h.Expanded(project.StoreKey("web", "c1")); err != nil || e.Config["limits.memory"] != "64MiB" {
		t.Fatalf("web's c1 does not take web's default profile: %v %v", e.Config, err)
	}
	if e, _ := h.Expanded("c1"); e.Config["limits.memory"] != "" {
		t.Fatalf("default's c1 takes web's profile: %v", e.Config)
	}
	if ps, _ := h.Profiles("web"); len(ps) != 1 || len(ps[0].UsedBy) != 1 || ps[0].UsedBy[0] != "/1.0/instances/c1?project=web" {
		t.Fatalf("web's profiles: %+v", ps)
	}
	if ps, _ := h.Profiles(""); len(ps) != 1 || len(ps[0].UsedBy) != 1 || ps[0].UsedBy[0] != "/1.0/instances/c1" {
		t.Fatalf("default's profiles: %+v", ps)
	}
	if err := h.createIn(t, "web", api.InstancesPost{Name: "c1"}); statusCode(err) != http.StatusConflict {
		t.Fatalf("a second c1 in project web: %v", err)
	}
	web := project.StoreKey("web", "c1")
	for _, key := range []string{"c1", web} {
		if err := h.Start(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	if h.rt.Instance("web_c1").State != runtime.StateRunning || h.rt.Instance("c1").State != runtime.StateRunning {
		t.Fatal("the runtime does not know both instances by their host names")
	}
	if _, ok := h.pool.Volume("web_c1"); !ok {
		t.Fatal("project web's c1 has no volume of its own")
	}
	if got, want := h.LogDir(web), filepath.Join(h.dir, "logs", "web_c1"); got != want {
		t.Fatalf("log folder %s, want %s", got, want)
	}
	if h.hostVethName(web, "eth0") == h.hostVethName("c1", "eth0") {
		t.Fatal("both c1 get one veth name")
	}
	inst, _, err := h.Get(web)
	if err != nil || inst.Name != "c1" || inst.Project != "web" {
		t.Fatalf("project web's c1 reads as %+v, %v", inst, err)
	}
	// Custom volumes of one name in two projects are two volumes, and an
	// instance attaches its own project's.
	for _, proj := range []string{"", "web"} {
		if err := h.pools.CreateCustomVolume(storage.VolumeRecord{Pool: "default", Project: proj, Name: "data"}); err != nil {
			t.Fatal(err)
		}
	}
	webInst, rev, _ := h.Get(web)
	put := api.InstancePut{Config: webInst.Config, Devices: webInst.Devices, Profiles: webInst.Profiles}
	put.Devices["data"] = map[string]string{"type": "disk", "pool": "default", "source": "data", "path": "/data"}
	if err := h.Update(web, put, rev); err != nil {
		t.Fatal(err)
	}
	if users, _ := h.VolumeUsers("web", "default", "data"); len(users) != 1 || users[0] != "/1.0/instances/c1?project=web" {
		t.Fatalf("web's volume data is used by %v", users)
	}
	if users, _ := h.VolumeUsers("", "default", "data"); len(users) != 0 {
		t.Fatalf("default's volume data is used by %v", users)
	}
	if err := h.DeleteCustomVolume("", "default", "data"); err != nil {
		t.Fatalf("deleting default's unused data: %v", err)
	}
	if err := h.DeleteCustomVolume("web", "default", "data"); statusCode(err) != http.StatusBadRequest {
		t.Fatalf("deleting web's attached data: %v", err)
	}
	// Its exit is its own, and so are its events.
	h.rt.Exit("web_c1")
	if st, _ := h.Status(web); st != runtime.StateStopped {
		t.Fatalf("web's c1 after its exit: %s", st)
	}
	if st, _ := h.Status("c1"); st != runtime.StateRunning {
		t.Fatalf("default's c1 after web's exit: %s", st)
	}
	sources := map[string]bool{}
	for len(sub.C) > 0 {
		ev := <-sub.C
		if lc, ok := ev.Metadata.(api.EventLifecycle); ok {
			sources[lc.Source] = true
		}
	}
	if !sources["/1.0/instances/c1?project=web"] || !sources["/1.0/instances/c1"] {
		t.Fatalf("event sources: %v", sources)
	}
	if err := h.Rename(web, "c2"); err != nil {
		t.Fatalf("rename in project web: %v", err)
	}
	if _, _, err := h.Get(project.StoreKey("web", "c2")); err != nil {
		t.Fatalf("the renamed instance: %v", err)
	}
	if _, ok := h.pool.Volume("web_c2"); !ok {
		t.Fatal("the renamed instance's volume kept its old name")
	}
}

// An instance gets its /dev/lxd folder mounted, read-only, unless
// security.devlxd is false; the socket in it listens while it runs.
func TestDevLXDFolderIsMounted(t *testing.T) {
	h := newHarness(t)
	h.mustCreate(t, api.InstancesPost{Name: "c1"})
	if err := h.Start(context.Background(), "c1"); err != nil {
		t.Fatal(err)
	}
	var dir string
	for _, d := range h.rt.Instance("c1").Devices {
		if disk, ok := d.(runtime.Disk); ok && disk.Path == "/dev/lxd" && disk.ReadOnly {
			dir = disk.Source
		}
	}
	if dir == "" {
		t.Fatalf("no /dev/lxd among %+v", h.rt.Instance("c1").Devices)
	}
	if st, err := os.Stat(filepath.Join(dir, "sock")); err != nil || st.Mode()&os.ModeSocket == 0 {
		t.Fatalf("the socket: %v %v", st, err)
	}
	if err := h.Stop(context.Background(), "c1", true, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sock")); !os.IsNotExist(err) {
		t.Fatalf("the socket after a stop: %v", err)
	}
}

// A project's profiles deleted with it come back when its deletion
// fails after them.
func TestDeletedProjectProfilesRestore(t *testing.T) {
	h := newHarness(t)
	if err := h.CreateProfile("web", api.ProfilesPost{Name: "default", ProfilePut: api.ProfilePut{Config: map[string]string{"limits.memory": "64MiB"}}}); err != nil {
		t.Fatal(err)
	}
	restore, err := h.DeleteProjectProfiles("web")
	if err != nil {
		t.Fatal(err)
	}
	if ps, _ := h.Profiles("web"); len(ps) != 0 {
		t.Fatalf("web's profiles after their deletion: %+v", ps)
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	if ps, _ := h.Profiles("web"); len(ps) != 1 || ps[0].Config["limits.memory"] != "64MiB" {
		t.Fatalf("web's profiles restored: %+v", ps)
	}
}
