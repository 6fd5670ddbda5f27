// Package server wires lodged together: flags, the state directory, the
// services and the signal handling. cmd/lodged only dispatches to it.
package server

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/lodge-project/lodge/internal/daemon"
	"github.com/lodge-project/lodge/internal/daemonid"
	"github.com/lodge-project/lodge/internal/dnszone"
	"github.com/lodge-project/lodge/internal/event"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/image"
	"github.com/lodge-project/lodge/internal/instance"
	"github.com/lodge-project/lodge/internal/instance/device"
	"github.com/lodge-project/lodge/internal/instance/runtime/container"
	"github.com/lodge-project/lodge/internal/limits"
	"github.com/lodge-project/lodge/internal/network"
	"github.com/lodge-project/lodge/internal/operation"
	"github.com/lodge-project/lodge/internal/projects"
	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/store"
	"github.com/lodge-project/lodge/internal/trust"
	"github.com/lodge-project/lodge/internal/warning"
)

// Main runs lodged until SIGINT/SIGTERM. Containers keep running after it.
func Main(args []string) error {
	fs := flag.NewFlagSet("lodged", flag.ContinueOnError)
	defDir := os.Getenv("LODGE_DIR")
	if defDir == "" {
		defDir = container.DefaultDir
	}
	dir := fs.String("dir", defDir, "state directory (also $LODGE_DIR)")
	debug := fs.Bool("debug", false, "log every request")
	maxImage := fs.Int64("max-image-size", 20<<30, "largest image upload accepted, in bytes")
	tick := fs.Duration("scheduler-tick", 10*time.Second, "how often scheduled and expired snapshots are looked for")
	proxyPorts := fs.String("proxy-ports", "", "host ports proxy devices may listen on (80,443,8000-8100); empty: any")
	debugAddr := fs.String("debug-address", "", "serve Go's profiles (pprof) at http://ADDR/debug/pprof/, e.g. 127.0.0.1:8444")
	tls12 := fs.Bool("allow-tls12", os.Getenv("LXD_INSECURE_TLS") == "true", "accept TLS 1.2 over HTTPS too (TLS 1.3 only by default; also $LXD_INSECURE_TLS=true)")
	favorMoves := fs.Bool("cgroup-favordynmods", true, "turn on the host cgroup2 mount's favordynmods, so container starts and execs do not wait for an RCU grace period")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("lodged must run as root")
	}

	bus := event.NewBus()
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(event.NewLogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}), bus))
	slog.SetDefault(log)
	// libcontainer logs through logrus; its warnings (unserialisable Go
	// hooks) are expected here.
	logrus.SetLevel(logrus.ErrorLevel)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// SIGPWR is the host going down (what init sends): stop the instances
	// cleanly first. SIGTERM/SIGINT leave them running.
	hostDown := make(chan os.Signal, 1)
	signal.Notify(hostDown, syscall.SIGPWR)

	if *debugAddr != "" {
		if err := serveDebug(ctx, *debugAddr, log); err != nil {
			return err
		}
	}
	ports, err := device.ParsePorts(*proxyPorts)
	if err != nil {
		return fmt.Errorf("--proxy-ports: %w", err)
	}
	svc, err := build(ctx, *dir, *maxImage, ports, bus, log)
	if err != nil {
		return err
	}
	svc.daemon.AllowTLS12 = *tls12
	defer svc.db.Close()
	raiseKeyQuota(log)
	if *favorMoves {
		// In the background: a remount can wait for a grace period itself.
		go func() {
			if target, err := limits.FavorCgroupMoves(); err != nil {
				log.Warn("cgroup favordynmods not set: container starts and execs are slower", "err", err)
			} else if target != "" {
				log.Info("cgroup favordynmods turned on (--cgroup-favordynmods=false leaves it)", "mount", target)
			}
		}()
	}
	if err := svc.daemon.Instances.EnsureDefaultProfile(); err != nil {
		return err
	}
	// Copied images' files first (a volume is unpacked from them), then
	// the volumes, before Reconcile mounts the layered volumes over them.
	svc.daemon.Images.RecoverFiles(svc.daemon.Log)
	svc.daemon.Images.RecoverVolumes(svc.daemon.Log)
	if err := svc.daemon.Instances.Reconcile(); err != nil {
		return fmt.Errorf("reconcile state: %w", err)
	}
	// After the instances: a volume an instance is layered on is retired,
	// not removed; the pools' leftovers are gone by now.
	svc.daemon.Images.Repair(svc.daemon.Log)
	svc.daemon.Pools.RepairCustomVolumes(svc.daemon.Log)
	svc.daemon.Instances.RepairBackups()

	go hostWarnings(ctx, svc.daemon.Warnings, log)
	go svc.daemon.Instances.RunScheduler(ctx, *tick)
	go svc.daemon.RunImageTasks(ctx, time.Hour)
	// Networks, NIC policies and autostart come up while the API already
	// answers: none of them holds up a client, and instances wait for them.
	go func() {
		svc.daemon.Networks.StartAll()
		svc.daemon.Instances.NetworksReady()
		svc.daemon.Instances.RestoreNICPolicies()
		svc.daemon.Instances.Autostart(ctx)
	}()
	go func() {
		select {
		case <-hostDown:
			log.Info("host shutdown: stopping instances")
			svc.daemon.Instances.ShutdownHost(ctx)
			stop()
		case <-ctx.Done():
		}
	}()
	log.Info("lodged ready", "dir", *dir, "version", daemon.Version)
	err = svc.daemon.Serve(ctx, filepath.Join(*dir, "unix.socket"))
	svc.daemon.Instances.UnmountStopped()
	log.Info("lodged stopped")
	return err
}

type services struct {
	db     *store.Store
	daemon *daemon.Daemon
}

func build(ctx context.Context, dir string, maxImage int64, ports device.AllowedPorts, bus *event.Bus, log *slog.Logger) (*services, error) {
	// 0711 down to each rootfs, so a container's mapped root can reach its own.
	for _, sub := range []string{"", "database", "images", "containers", "logs", "storage-pools"} {
		p := filepath.Join(dir, sub)
		mode := os.FileMode(0o711)
		if sub == "database" || sub == "images" || sub == "logs" {
			mode = 0o700
		}
		if err := os.MkdirAll(p, mode); err != nil {
			return nil, fmt.Errorf("create %s: %w", p, err)
		}
		if err := os.Chmod(p, mode); err != nil {
			return nil, err
		}
	}
	db, err := store.Open(filepath.Join(dir, "database", "lodge.db"))
	if err != nil {
		return nil, err
	}
	for _, m := range db.Migrations() {
		log.Info("database migrated", "migration", m)
	}
	pools := storage.NewPools(db, dir, storageDrivers())
	images, err := image.NewService(db, pools, filepath.Join(dir, "images"), maxImage)
	if err != nil {
		db.Close()
		return nil, err
	}
	images.Servers = imageServers()
	m, err := idmap.FromSubIDFiles("/etc/subuid", "/etc/subgid")
	if err != nil {
		db.Close()
		return nil, err
	}
	logDir := func(name string) string { return filepath.Join(dir, "logs", name) }
	rt, err := container.New(filepath.Join(dir, "runtime"), dir, logDir, log)
	if err != nil {
		db.Close()
		return nil, err
	}
	warnings := warning.NewService(db, bus, log)
	projs := projects.NewService(db, bus)
	nets := network.NewService(db, filepath.Join(dir, "networks"), daemonid.Name(daemonid.Of(dir), "lodge", "_"), log)
	nets.Warnings = warnings
	zones := dnszone.NewService(db)
	zones.Networks, zones.UsedBy, nets.Zones = nets.ZoneNetworks, nets.ZoneUsers, zones
	inst := instance.NewService(instance.Deps{DB: db, Networks: nets, Pools: pools, Images: images, Runtimes: runtimes(rt), Bus: bus, IDMap: m,
		Host: hostLimits(), Dir: dir, Log: log, ProxyPorts: ports, Warnings: warnings, Projects: projs})
	pools.SetVolumeLimits(inst.CheckVolumeLimits)
	images.SetBudget(inst.ImageBudget)
	d := &daemon.Daemon{Dir: dir, Instances: inst, Images: images, Networks: nets, Pools: pools, Ops: operation.NewManager(ctx, bus), Bus: bus, Log: log,
		DB: db, Trust: trust.NewStore(db), Warnings: warnings, Projects: projs, Zones: zones}
	return &services{db: db, daemon: d}, nil
}

func hostLimits() limits.Host {
	h := limits.Host{CPUs: runtime.NumCPU(), SwapAccounting: anyExists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", "/sys/fs/cgroup/memory.swap.max", "/sys/fs/cgroup/init.scope/memory.swap.max"),
		IOWeight: anyExists("/sys/fs/cgroup/blkio/blkio.weight", "/sys/fs/cgroup/blkio/blkio.bfq.weight", "/sys/fs/cgroup/io.weight", "/sys/fs/cgroup/io.bfq.weight")}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				h.MemoryBytes = kb * 1024
			}
		}
	}
	return h
}

// raiseKeyQuota lifts the kernel's per-user key quota to LXD's production
// values: each unprivileged container's root is a user with its own keyring,
// and the default 200 keys stop container starts after a few dozen.
func raiseKeyQuota(log *slog.Logger) {
	for file, want := range map[string]int{"/proc/sys/kernel/keys/maxkeys": 2000, "/proc/sys/kernel/keys/maxbytes": 2000000} {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		if cur, _ := strconv.Atoi(strings.TrimSpace(string(data))); cur >= want {
			continue
		}
		if err := os.WriteFile(file, []byte(strconv.Itoa(want)), 0o644); err != nil {
			log.Warn("cannot raise the kernel key quota; many containers may fail to start", "file", file, "err", err)
		}
	}
}

func anyExists(paths ...string) bool {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}
