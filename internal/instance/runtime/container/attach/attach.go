// Package attach starts a command inside a running container: lodged
// re-executes itself, and the constructor in attach.c joins the container
// and execs the command before any Go code runs in that process.
package attach

/*
#include "attach.h"
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"

	"github.com/lodge-project/lodge/internal/procfs"
	"golang.org/x/sys/unix"
)

// Job is what to run and in what: the container's init (its namespaces),
// cgroups and security settings, and the command.
type Job struct {
	// InitPid and InitStartTime (clock ticks since boot, /proc/PID/stat
	// field 22) name the container's init; a reused pid is refused.
	InitPid       int
	InitStartTime uint64
	// CgroupDirs are joined before the namespaces.
	CgroupDirs []string
	// Namespaces are the CLONE_NEW* flags of the namespaces to join.
	Namespaces uint32
	UID, GID   uint32
	Cwd        string
	Args, Env  []string
	Caps       Caps
	// Seccomp is a classic BPF program (struct sock_filter array); empty
	// means no filter.
	Seccomp    []byte
	NoNewPrivs bool
	// Hold readies the command but leaves the exec to Process.Release.
	Hold bool
	// TTY gives the command a pty of the container's devpts; Stdin,
	// Stdout and Stderr are used otherwise (nil is /dev/null).
	TTY                   bool
	Width, Height         uint16
	Stdin, Stdout, Stderr *os.File
}

// Caps are capability sets as bit masks (bit N is capability N).
type Caps struct {
	Bounding, Effective, Permitted, Inheritable, Ambient uint64
}

// ErrInitGone is returned when the container's init is not the process
// the Job names any more.
var ErrInitGone = errors.New("the container's init is gone")

// Process is a command running in a container; lodged is its parent.
type Process struct {
	Pid int
	// Master is the pty master of a TTY command.
	Master *os.File

	mu    sync.Mutex
	pidfd *os.File // nil once waited for

	reports *os.File // a held command's socket, until released
}

// Start runs the job and returns once the command has been exec'd (or
// failed to be), or for a held job once it is ready for Release.
func Start(j Job) (*Process, error) {
	initFd, err := openInit(j.InitPid, j.InitStartTime)
	if err != nil {
		return nil, err
	}
	defer initFd.Close()
	jobR, jobW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer jobR.Close()
	defer jobW.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("report socket: %w", err)
	}
	reports := os.NewFile(uintptr(fds[0]), "attach-reports")
	reportsChild := os.NewFile(uintptr(fds[1]), "attach-reports-child")
	defer func() {
		if reports != nil {
			reports.Close()
		}
	}()
	defer reportsChild.Close()

	stdio := []*os.File{j.Stdin, j.Stdout, j.Stderr}
	if j.TTY {
		stdio = []*os.File{nil, nil, nil}
	}
	var devnull *os.File
	for i := range stdio {
		if stdio[i] != nil {
			continue
		}
		if devnull == nil {
			if devnull, err = os.Open(os.DevNull); err != nil {
				return nil, err
			}
			defer devnull.Close()
		}
		stdio[i] = devnull
	}
	helper, err := os.StartProcess("/proc/self/exe", []string{"lodge-attach"}, &os.ProcAttr{
		Env:   []string{C.ATTACH_ENV_VAR + "=1"},
		Files: append(stdio, jobR, initFd, reportsChild),
	})
	if err != nil {
		return nil, fmt.Errorf("start attach helper: %w", err)
	}
	jobR.Close()
	reportsChild.Close()
	_, werr := jobW.Write(encode(j))
	jobW.Close()

	pid, master, failure, rerr := readReports(reports, j.Hold)
	hst, herr := helper.Wait()
	if failure == "" && (werr != nil || rerr != nil) {
		failure = fmt.Sprint("attach: ", errors.Join(werr, rerr))
	}
	if failure == "" && (herr != nil || !hst.Success()) {
		failure = fmt.Sprintf("attach helper: %v %v", hst, herr)
	}
	if failure == "" && pid <= 0 {
		failure = "attach helper reported no command"
	}
	if failure != "" {
		if master != nil {
			master.Close()
		}
		if pid > 0 {
			_ = unix.Kill(pid, unix.SIGKILL)
			_, _ = wait(pid)
		}
		return nil, errors.New(failure)
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		_ = unix.Kill(pid, unix.SIGKILL)
		_, _ = wait(pid)
		return nil, fmt.Errorf("pidfd of the command: %w", err)
	}
	p := &Process{Pid: pid, Master: master, pidfd: os.NewFile(uintptr(pidfd), "command-pidfd")}
	if j.Hold {
		p.reports, reports = reports, nil
	}
	return p, nil
}

// Release lets a held command exec and returns once it has (or failed to:
// the command has then exited and Wait reaps it).
func (p *Process) Release() error {
	if p.reports == nil {
		return errors.New("attach: the command is not held")
	}
	defer func() {
		p.reports.Close()
		p.reports = nil
	}()
	if _, err := p.reports.Write([]byte{C.ATTACH_GO}); err != nil {
		return fmt.Errorf("attach: release the command: %w", err)
	}
	_, _, failure, err := readReports(p.reports, false)
	if failure != "" {
		return errors.New(failure)
	}
	return err
}

// Abandon ends a held command without running it; Wait reaps it.
func (p *Process) Abandon() {
	if p.reports != nil {
		p.reports.Close()
		p.reports = nil
	}
}

// openInit returns a pidfd of the container's init, checking the pid still
// names the process that started then.
func openInit(pid int, startTime uint64) (*os.File, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("%w (pid %d: %v)", ErrInitGone, pid, err)
	}
	f := os.NewFile(uintptr(fd), "init-pidfd")
	// The pidfd holds on to whichever process has the pid now: check it
	// is the init that started then.
	got, _, err := procfs.StartTime(pid)
	if err != nil || got != strconv.FormatUint(startTime, 10) {
		f.Close()
		return nil, fmt.Errorf("%w (pid %d)", ErrInitGone, pid)
	}
	return f, nil
}

// readReports reads the helper's reports until every holder of the socket
// closed it (the helper exited and the command exec'd or died), or, with
// untilReady, until the held command is ready.
func readReports(sock *os.File, untilReady bool) (pid int, master *os.File, failure string, err error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	ready := false
	for {
		if ready && pid > 0 { // the helper's pid report may come after the command's ready
			return pid, master, failure, nil
		}
		n, oobn, _, _, rerr := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
		if rerr == unix.EINTR {
			continue
		}
		if rerr != nil {
			return pid, master, failure, rerr
		}
		if n == 0 {
			return pid, master, failure, nil
		}
		switch buf[0] {
		case C.ATTACH_REPORT_PID:
			if n == 5 {
				pid = int(int32(binary.NativeEndian.Uint32(buf[1:5])))
			}
		case C.ATTACH_REPORT_PTY:
			if f := receivedFile(oob[:oobn]); f != nil {
				master = f
			}
		case C.ATTACH_REPORT_ERROR:
			if failure == "" {
				failure = string(buf[1:n])
			}
		case C.ATTACH_REPORT_READY:
			ready = untilReady
		}
	}
}

func receivedFile(oob []byte) *os.File {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil || len(msgs) != 1 {
		return nil
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil
	}
	return os.NewFile(uintptr(fds[0]), "pty-master")
}

// Wait waits for the command and releases it.
func (p *Process) Wait() (syscall.WaitStatus, error) {
	ws, err := wait(p.Pid)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pidfd.Close()
	p.pidfd = nil
	return ws, err
}

func wait(pid int) (syscall.WaitStatus, error) {
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			return ws, err
		}
	}
}

// Signal sends sig to the command; the pidfd makes sure it reaches this
// command even after it exited and its pid was reused.
func (p *Process) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pidfd == nil {
		return os.ErrProcessDone
	}
	return unix.PidfdSendSignal(int(p.pidfd.Fd()), sig, nil, 0)
}
