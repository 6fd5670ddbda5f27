package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/sys/capability"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/instance/runtime/container/attach"
)

// Proc is a command running in a container.
type Proc struct {
	p *attach.Process
	// master is the pty master of a TTY command.
	master *os.File
}

// Exec starts a command inside a running container. The attach helper
// (package attach) joins the container the way libcontainer's setns init
// would, with the container's own cgroups, namespaces, seccomp filter and
// capabilities, at a fraction of the cost.
func (d *Driver) Exec(ctx context.Context, name string, s runtime.ExecSpec) (runtime.Proc, error) {
	c, err := libcontainer.Load(d.root, name)
	if err != nil {
		return nil, apierr.BadRequest("instance %q is not running", name)
	}
	st, err := c.State()
	if err != nil {
		return nil, fmt.Errorf("exec in %q: %w", name, err)
	}
	job, err := attachJob(st)
	if err != nil {
		return nil, fmt.Errorf("exec in %q: %w", name, err)
	}
	job.Args, job.Env, job.Cwd = s.Args, s.Env, s.Cwd
	job.UID, job.GID = uint32(s.UID), uint32(s.GID)
	job.TTY, job.Width, job.Height = s.TTY, s.Width, s.Height
	job.Stdin, job.Stdout, job.Stderr = s.Stdin, s.Stdout, s.Stderr
	job.Hold = s.Hold
	t0 := time.Now()
	p, err := attach.Start(job)
	if errors.Is(err, attach.ErrInitGone) {
		return nil, apierr.BadRequest("instance %q is not running", name)
	}
	if err != nil {
		return nil, fmt.Errorf("exec in %q: %w", name, err)
	}
	d.log.Debug("exec started", "instance", name, "took", time.Since(t0))
	return &Proc{p: p, master: p.Master}, nil
}

// attachJob is the part of an exec that comes from the container: its
// init, cgroups, namespaces and security settings.
func attachJob(st *libcontainer.State) (attach.Job, error) {
	cfg := &st.Config
	job := attach.Job{InitPid: st.InitProcessPid, InitStartTime: st.InitProcessStartTime, NoNewPrivs: cfg.NoNewPrivileges}
	for setting, set := range map[string]bool{"an AppArmor profile": cfg.AppArmorProfile != "", "a process label": cfg.ProcessLabel != "",
		"rlimits": len(cfg.Rlimits) > 0, "an OOM score": cfg.OomScoreAdj != nil, "a personality": cfg.Personality != nil} {
		if set {
			// lodged never writes these; a state file that has them was not made by this lodged.
			return job, fmt.Errorf("its runtime state sets %s, which exec cannot apply: restart the instance", setting)
		}
	}
	seen := map[string]bool{}
	for _, dir := range st.CgroupPaths {
		if !seen[dir] {
			seen[dir] = true
			job.CgroupDirs = append(job.CgroupDirs, dir)
		}
	}
	sort.Strings(job.CgroupDirs)
	for _, ns := range cfg.Namespaces {
		job.Namespaces |= uint32(ns.Syscall())
	}
	var err error
	if job.Caps, err = capMasks(cfg.Capabilities); err != nil {
		return job, err
	}
	if job.Seccomp, err = cachedSeccompProgram(cfg.Seccomp); err != nil {
		return job, err
	}
	return job, nil
}

var capNumbers = sync.OnceValue(func() map[string]uint {
	m := map[string]uint{}
	for _, c := range capability.ListKnown() {
		m["CAP_"+strings.ToUpper(c.String())] = uint(c)
	}
	return m
})

func capMasks(c *configs.Capabilities) (attach.Caps, error) {
	var out attach.Caps
	if c == nil {
		return out, nil
	}
	for _, set := range []struct {
		names []string
		mask  *uint64
	}{{c.Bounding, &out.Bounding}, {c.Effective, &out.Effective}, {c.Permitted, &out.Permitted}, {c.Inheritable, &out.Inheritable}, {c.Ambient, &out.Ambient}} {
		for _, name := range set.names {
			n, ok := capNumbers()[name]
			if !ok {
				return out, fmt.Errorf("unknown capability %q", name)
			}
			*set.mask |= 1 << n
		}
	}
	return out, nil
}

// seccompPrograms caches compiled policies: every container has the same
// few, and an exec should not pay for compiling one.
var seccompPrograms sync.Map // policy fingerprint -> []byte

func cachedSeccompProgram(cfg *configs.Seccomp) ([]byte, error) {
	if cfg == nil {
		return nil, nil
	}
	policy, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	key := string(policy)
	if prog, ok := seccompPrograms.Load(key); ok {
		return prog.([]byte), nil
	}
	prog, err := seccompProgram(cfg)
	if err != nil {
		return nil, err
	}
	seccompPrograms.Store(key, prog)
	return prog, nil
}

// Wait waits for the command and returns its exit code (128+signal when killed).
func (p *Proc) Wait() int {
	ws, err := p.p.Wait()
	if err != nil {
		return -1
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// Release runs a held command.
func (p *Proc) Release() error { return p.p.Release() }

// Abandon ends a held command without running it; Wait still reaps it.
func (p *Proc) Abandon() { p.p.Abandon() }

// Signal sends sig to the command.
func (p *Proc) Signal(sig syscall.Signal) error { return p.p.Signal(sig) }

// PTY is the pty master of a TTY command (nil otherwise).
func (p *Proc) PTY() *os.File { return p.master }

// Resize sets the window size of a TTY command's pty.
func (p *Proc) Resize(cols, rows uint16) error {
	if p.master == nil {
		return nil
	}
	return unix.IoctlSetWinsize(int(p.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: cols, Row: rows})
}
