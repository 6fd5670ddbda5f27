package container

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"

	"github.com/lodge-project/lodge/internal/apierr"
)

// ExecSpec describes a command to run in a container.
type ExecSpec struct {
	Args     []string
	Env      []string
	Cwd      string
	UID, GID int
	// TTY gives the command a pty; Master is then set on the Proc.
	TTY           bool
	Width, Height uint16
	// Stdin, Stdout, Stderr are used when TTY is false.
	Stdin, Stdout, Stderr *os.File
}

// Proc is a command running in a container.
type Proc struct {
	p *libcontainer.Process
	// Master is the pty master of a TTY command.
	Master *os.File
}

// Exec starts a command inside a running container.
func (d *Driver) Exec(name string, s ExecSpec) (*Proc, error) {
	c, err := libcontainer.Load(d.root, name)
	if err != nil {
		return nil, apierr.BadRequest("instance %q is not running", name)
	}
	p := &libcontainer.Process{Args: s.Args, Env: s.Env, Cwd: s.Cwd, UID: s.UID, GID: s.GID, Init: false, LogLevel: childLogLevel}
	var parent, child *os.File
	if s.TTY {
		parent, child, err = socketPair()
		if err != nil {
			return nil, err
		}
		defer parent.Close()
		defer child.Close()
		p.ConsoleSocket = child
		p.ConsoleWidth, p.ConsoleHeight = s.Width, s.Height
	} else {
		p.Stdin, p.Stdout, p.Stderr = s.Stdin, s.Stdout, s.Stderr
	}
	t0 := time.Now()
	if err := c.Run(p); err != nil {
		return nil, fmt.Errorf("exec in %q: %w", name, err)
	}
	d.log.Debug("exec started", "instance", name, "run", time.Since(t0))
	proc := &Proc{p: p}
	if s.TTY {
		master, err := recvFile(parent)
		if err != nil {
			_ = p.Signal(syscall.SIGKILL)
			_, _ = p.Wait()
			return nil, fmt.Errorf("receive pty of exec: %w", err)
		}
		proc.Master = master
	}
	return proc, nil
}

// Wait waits for the command and returns its exit code (128+signal when killed).
func (p *Proc) Wait() int {
	st, err := p.p.Wait()
	if st == nil {
		if err != nil {
			return -1
		}
		return 0
	}
	ws, ok := st.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}

// Signal sends sig to the command.
func (p *Proc) Signal(sig syscall.Signal) error { return p.p.Signal(sig) }
