// Package container is Lodge's system-container driver, built on runc's
// libcontainer. Containers are not children lodged needs to keep: they run
// on when lodged stops, and a new lodged finds them by their state files.
package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/console"
	"github.com/lodge-project/lodge/internal/crashpoint"
	"github.com/lodge-project/lodge/internal/durable"
	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/keyedlock"
	"github.com/lodge-project/lodge/internal/limits"
)

// resendEvery is how often a clean stop repeats its signal while init runs.
const resendEvery = time.Second

// sigRTMin3 is glibc's SIGRTMIN+3: systemd's "halt" request.
const sigRTMin3 = syscall.Signal(37)

// Driver runs containers.
type Driver struct {
	root   string // libcontainer's state directory
	logDir func(name string) string
	self   string // lodged's binary, for the console keeper
	// stateDir is $LODGE_DIR, where the console keeper listens.
	stateDir string
	// reporting holds, per instance, the exit report under way (closed
	// when done), for exited's second caller to wait on.
	reportMu  sync.Mutex
	reporting map[string]chan struct{}
	// cgroupParent holds this daemon's containers' cgroups.
	cgroupParent string
	// onExit is told when a container's init ends on its own or by Stop.
	onExit func(name string)
	log    *slog.Logger

	locks keyedlock.Locks
}

// New makes a driver keeping libcontainer state under root.
func New(root, stateDir string, logDir func(string) string, log *slog.Logger) (*Driver, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("create runtime directory: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if !lxcfsRunning() {
		log.Info("lxcfs is not running: containers started without it see the host's /proc/meminfo, cpuinfo, stat, uptime (Debian's lxcfs package gives them their own)")
	}
	return &Driver{root: root, stateDir: stateDir, cgroupParent: CgroupParent(stateDir), logDir: logDir, self: self, log: log}, nil
}

func (d *Driver) lock(name string) func() { return d.locks.Lock(name) }

// Status reports the container's state and its init's pid (0 when stopped).
func (d *Driver) Status(name string) (string, int) {
	if st, pid, ok := d.fastStatus(name); ok {
		return st, pid
	}
	c, err := libcontainer.Load(d.root, name)
	if err != nil {
		return StateStopped, 0
	}
	st, err := c.Status()
	if err != nil {
		return StateStopped, 0
	}
	state, err := c.State()
	if err != nil {
		return StateStopped, 0
	}
	switch st {
	case libcontainer.Running:
		return StateRunning, state.InitProcessPid
	case libcontainer.Paused:
		return StateFrozen, state.InitProcessPid
	}
	return StateStopped, 0
}

// Start boots the container's /sbin/init on a console pty.
func (d *Driver) Start(ctx context.Context, s runtime.Spec) error {
	defer d.lock(s.Name)()
	if st, _ := d.Status(s.Name); st != StateStopped {
		return apierr.Conflict("instance %q is already running", s.Name)
	}
	d.destroyLeftover(s.Name)
	t0 := time.Now()
	cfg, err := buildConfig(s, d.cgroupParent)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d.logDir(s.Name), 0o700); err != nil {
		return err
	}
	c, err := libcontainer.Create(d.root, s.Name, cfg)
	if err != nil {
		return fmt.Errorf("create container %q: %w", s.Name, err)
	}
	crashpoint.Hit("start.created")
	fail := func(err error) error {
		_ = c.Destroy()
		return err
	}
	parent, child, err := socketPair()
	if err != nil {
		return fail(err)
	}
	defer parent.Close()
	defer child.Close()
	init := &libcontainer.Process{
		Args:          []string{"/sbin/init"},
		Env:           []string{"container=lxc", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=linux"},
		Cwd:           "/",
		Init:          true,
		ConsoleSocket: child,
		LogLevel:      childLogLevel,
	}
	t1 := time.Now()
	if err := c.Run(init); err != nil {
		return fail(fmt.Errorf("start init of %q: %w", s.Name, err))
	}
	t2 := time.Now()
	master, err := recvFile(parent)
	if err != nil {
		_ = c.Signal(unix.SIGKILL)
		_, _ = init.Wait()
		return fail(fmt.Errorf("receive console of %q: %w", s.Name, err))
	}
	defer master.Close()
	pid, _ := init.Pid()
	d.writeStatus(c, pid)
	if err := console.Register(d.self, d.stateDir, master, pid, d.logDir(s.Name)); err != nil {
		d.log.Warn("container runs without a console keeper", "instance", s.Name, "err", err)
	}
	go func() {
		_, _ = init.Wait() // reap it: lodged is its parent until lodged exits
		d.exited(s.Name)
	}()
	d.log.Debug("container started", "instance", s.Name, "prepare", t1.Sub(t0), "run", t2.Sub(t1), "console", time.Since(t2))
	return nil
}

// Watch follows a container that was running before lodged started, so its
// end is noticed; lodged is no longer its parent, so it uses a pidfd.
func (d *Driver) Watch(name string) {
	_, pid := d.Status(name)
	if pid == 0 {
		return
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return
	}
	go func() {
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			_, err := unix.Poll(fds, -1)
			if err == nil && fds[0].Revents != 0 {
				break
			}
			if err != nil && err != unix.EINTR {
				return
			}
		}
		d.exited(name)
	}()
}

// exited cleans up after init ended: libcontainer's state and cgroups go.
func (d *Driver) exited(name string) {
	unlock := d.lock(name)
	// Both the exit watcher and a stop get here for one exit: the one
	// that cleans the container up reports it, once, and the other waits
	// until that report is done (a stop returns only once its exit has
	// been acted on: NIC filters dropped, power state written).
	report := false
	c, err := libcontainer.Load(d.root, name)
	if err == nil {
		if st, _ := c.Status(); st == libcontainer.Stopped {
			if err := c.Destroy(); err != nil {
				d.log.Warn("clean up stopped container", "instance", name, "err", err)
			}
			report = true
		}
	}
	d.reportMu.Lock()
	if d.reporting == nil {
		d.reporting = map[string]chan struct{}{}
	}
	wait := d.reporting[name]
	var done chan struct{}
	if report {
		done = make(chan struct{})
		d.reporting[name] = done
	}
	d.reportMu.Unlock()
	unlock()
	if !report {
		if wait != nil {
			<-wait
		}
		return
	}
	defer func() {
		d.reportMu.Lock()
		delete(d.reporting, name)
		d.reportMu.Unlock()
		close(done)
	}()
	if d.onExit != nil {
		d.onExit(name)
	}
}

// destroyLeftover removes the state of a container whose init is gone.
func (d *Driver) destroyLeftover(name string) {
	if c, err := libcontainer.Load(d.root, name); err == nil {
		_ = c.Destroy()
		return
	}
	// A start killed before libcontainer wrote its state leaves the
	// container's directory (exec.fifo, no state.json), and maybe a runc
	// init waiting on that fifo in the container's cgroup: Create refuses
	// the name while either is there.
	dir := filepath.Join(d.root, name)
	if _, err := os.Stat(dir); err != nil {
		return
	}
	d.log.Warn("repair: removing the state of a start that did not finish", "instance", name)
	killCgroup(d.cgroupParent + "/" + name)
	_ = os.RemoveAll(dir)
}

// killCgroup kills what runs in a cgroup and removes it.
func killCgroup(path string) {
	m, err := manager.New(&cgroups.Cgroup{Path: path, Resources: &cgroups.Resources{}})
	if err != nil {
		return
	}
	for range 50 {
		pids, _ := m.GetAllPids()
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = m.Destroy()
}

// Stop shuts the container down: a clean request to init (SIGRTMIN+3 for
// systemd, SIGPWR otherwise), then SIGKILL once timeout passes. force
// kills at once.
func (d *Driver) Stop(ctx context.Context, name string, force bool, timeout time.Duration) error {
	unlock := d.lock(name)
	c, err := libcontainer.Load(d.root, name)
	if err != nil {
		unlock()
		return apierr.Conflict("instance %q is not running", name)
	}
	state, err := c.State()
	if err != nil {
		unlock()
		return err
	}
	if st, _ := c.Status(); st == libcontainer.Paused {
		_ = c.Resume() // a frozen init cannot act on a signal
	}
	pidfd, err := unix.PidfdOpen(state.InitProcessPid, 0)
	if err != nil {
		unlock()
		d.exited(name)
		return nil
	}
	defer unix.Close(pidfd)
	sig := syscall.Signal(unix.SIGPWR)
	if isSystemd(c.Config().Rootfs) {
		sig = sigRTMin3
	}
	if force {
		sig = unix.SIGKILL
	}
	watch := newShutdownWatch(state.InitProcessPid, state.CgroupPaths)
	// A stop right after a start can reach init before it is the program
	// that acts on the signal, or before that program has set up its
	// handling: runc's init (Go, which drops signals it was not asked
	// for) before it execs /sbin/init, a script that execs the real init
	// later, busybox's init in its first instants. The signal is lost
	// then, and the stop would wait out its whole timeout. So it goes
	// again at once when init has exec'd another program, and then every
	// resendEvery while init runs: the inits Lodge stops take a repeat as
	// the same request (busybox resets its handlers on the first; systemd
	// has its halt job queued already).
	exe := executable(state.InitProcessPid)
	lastSent := time.Now()
	err = unix.PidfdSendSignal(pidfd, sig, nil, 0)
	unlock()
	if err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("signal init of %q: %w", name, err)
	}
	if !force {
		exited, idle := waitFd(ctx, pidfd, timeout, func() bool {
			if now := executable(state.InitProcessPid); now != "" && now != exe {
				exe, lastSent = now, time.Now()
				watch.initSignals = signalMasks(state.InitProcessPid)
				d.log.Debug("init exec'd another program since the stop signal: sending it again", "instance", name)
				_ = unix.PidfdSendSignal(pidfd, sig, nil, 0)
				return false
			}
			if time.Since(lastSent) >= resendEvery {
				lastSent = time.Now()
				_ = unix.PidfdSendSignal(pidfd, sig, nil, 0)
			}
			return watch.done(time.Now())
		})
		switch {
		case idle:
			d.log.Debug("nothing left acts on the stop signal and all is idle: shut down", "instance", name, "ignoring_sigterm", watch.ignoring)
			if err := durable.Filesystem(c.Config().Rootfs); err != nil {
				d.log.Warn("sync the stopped instance's filesystem", "instance", name, "err", err)
			}
			_ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		case !exited:
			d.log.Info("clean stop timed out, killing", "instance", name, "timeout", timeout)
			_ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		}
	}
	if exited, _ := waitFd(ctx, pidfd, 30*time.Second, nil); !exited {
		return fmt.Errorf("instance %q did not die after SIGKILL", name)
	}
	d.exited(name)
	return nil
}

// waitFd waits up to timeout for a pidfd to report its process's exit,
// asking done (when not nil) between polls whether to stop waiting. It
// says whether the process exited and whether done ended the wait.
func waitFd(ctx context.Context, fd int, timeout time.Duration, done func() bool) (exited, stopped bool) {
	deadline := time.Now().Add(timeout)
	for ctx.Err() == nil {
		left := time.Until(deadline)
		if left <= 0 {
			return false, false
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, err := unix.Poll(fds, int(min(left, 20*time.Millisecond)/time.Millisecond)+1); err == nil && n > 0 {
			return true, false
		}
		if done != nil && done() {
			return false, true
		}
	}
	return false, false
}

// Freeze pauses every process of the container.
func (d *Driver) Freeze(ctx context.Context, name string) error {
	defer d.lock(name)()
	c, err := libcontainer.Load(d.root, name)
	if err != nil {
		return apierr.Conflict("instance %q is not running", name)
	}
	return c.Pause()
}

// Unfreeze resumes a frozen container.
func (d *Driver) Unfreeze(ctx context.Context, name string) error {
	defer d.lock(name)()
	c, err := libcontainer.Load(d.root, name)
	if err != nil {
		return apierr.Conflict("instance %q is not running", name)
	}
	return c.Resume()
}

// ApplyLimits applies new cgroup resources to a running container.
func (d *Driver) ApplyLimits(name string, limits *limits.Resources) error {
	defer d.lock(name)()
	c, err := libcontainer.Load(d.root, name)
	if err != nil {
		return nil // not running: the next start applies them
	}
	cfg := c.Config()
	devices := cfg.Cgroups.Resources.Devices
	r := cgroupResources(limits)
	r.Devices = devices
	cfg.Cgroups.Resources = r
	if err := c.Set(cfg); err != nil {
		return fmt.Errorf("apply limits to %q: %w", name, err)
	}
	return nil
}

// Usage reads the cgroup counters and interfaces of a running container.
func (d *Driver) Usage(name string) (runtime.Usage, error) {
	c, err := libcontainer.Load(d.root, name)
	if err != nil {
		return runtime.Usage{}, err
	}
	st, err := c.Stats()
	if err != nil {
		return runtime.Usage{}, err
	}
	state, err := c.State()
	if err != nil {
		return runtime.Usage{}, err
	}
	procs, _ := c.Processes()
	u := runtime.Usage{Processes: len(procs)}
	if cg := st.CgroupStats; cg != nil {
		u = usageOf(cg)
		u.Processes = len(procs)
	}
	u.Interfaces = netState(state.InitProcessPid)
	return u, nil
}

// OnExit sets who is told when a container's init ends.
func (d *Driver) OnExit(fn func(name string)) { d.onExit = fn }

// Console connects to the container's console keeper.
func (d *Driver) Console(name string) (io.ReadWriteCloser, error) {
	conn, err := net.Dial("unix", console.SocketPath(d.logDir(name)))
	if err != nil {
		return nil, fmt.Errorf("console keeper is not reachable: %w", err)
	}
	return conn, nil
}

// ResizeConsole sets the window size of a container's console.
func (d *Driver) ResizeConsole(name string, cols, rows uint16) error {
	return console.Resize(d.self, d.stateDir, d.logDir(name), cols, rows)
}
