// Package console keeps a container's console: a small process outside
// lodged holds the pty master of the container's init, writes what init
// prints to console.log and lets one client at a time attach. Because it
// is not lodged, the console survives a daemon restart.
package console

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxLog bounds console.log; past it the log starts over.
const maxLog = 1 << 20

// Paths of a container's console files in its log directory.
func LogPath(logDir string) string    { return filepath.Join(logDir, "console.log") }
func SocketPath(logDir string) string { return filepath.Join(logDir, "console.socket") }

// ControlPath is the keeper's control socket: "resize COLS ROWS" lines.
func ControlPath(logDir string) string { return filepath.Join(logDir, "console.control") }

// Spawn starts a keeper for master, the pty of init pid. The keeper is in a
// session of its own so that it outlives lodged.
func Spawn(self string, master *os.File, pid int, logDir string) error {
	cmd := exec.Command(self, "console-keeper", strconv.Itoa(pid), logDir)
	cmd.ExtraFiles = []*os.File{master}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start console keeper: %w", err)
	}
	// lodged does not wait for it: reap it in the background if it ends first.
	go func() { _ = cmd.Wait() }()
	return nil
}

// RunKeeper is the keeper's main: fd 3 is the master, args are the init's
// pid and the log directory.
func RunKeeper(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: console-keeper PID LOGDIR")
	}
	pid, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	master := os.NewFile(3, "pty-master")
	// Holding the slave side open keeps the pty from hanging up whenever
	// init closes its console (systemd does, between boot steps).
	peer, err := unix.IoctlRetInt(int(master.Fd()), unix.TIOCGPTPEER)
	if err == nil {
		defer unix.Close(peer)
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("watch init %d: %w", pid, err)
	}
	logDir := args[1]
	log, err := os.OpenFile(LogPath(logDir), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	sock := SocketPath(logDir)
	_ = os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	ctl := ControlPath(logDir)
	_ = os.Remove(ctl)
	ctlLn, err := net.Listen("unix", ctl)
	if err != nil {
		return err
	}
	k := &keeper{master: master, log: log}
	go k.accept(ln)
	go k.control(ctlLn)
	go k.pump()
	// Wait for init to end, then go.
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
			return err
		}
		if fds[0].Revents != 0 {
			break
		}
	}
	_ = ln.Close()
	_ = ctlLn.Close()
	_ = os.Remove(sock)
	_ = os.Remove(ctl)
	return nil
}

// control applies window sizes sent by attached clients.
func (k *keeper) control(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				var cols, rows uint16
				if _, err := fmt.Sscanf(sc.Text(), "resize %d %d", &cols, &rows); err == nil && cols > 0 && rows > 0 {
					_ = unix.IoctlSetWinsize(int(k.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: cols, Row: rows})
				}
			}
		}()
	}
}

type keeper struct {
	master  *os.File
	log     *os.File
	mu      sync.Mutex
	written int64
	client  net.Conn
}

// pump copies init's output to the log and the attached client.
func (k *keeper) pump() {
	buf := make([]byte, 32*1024)
	for {
		n, err := k.master.Read(buf)
		if n > 0 {
			k.mu.Lock()
			if k.written+int64(n) > maxLog {
				_ = k.log.Truncate(0)
				_, _ = k.log.Seek(0, io.SeekStart)
				k.written = 0
			}
			w, _ := k.log.Write(buf[:n])
			k.written += int64(w)
			if k.client != nil {
				if _, err := k.client.Write(buf[:n]); err != nil {
					k.client.Close()
					k.client = nil
				}
			}
			k.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// accept attaches clients; a new one replaces the old, as with lxc console.
func (k *keeper) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		k.mu.Lock()
		if k.client != nil {
			k.client.Close()
		}
		k.client = c
		k.mu.Unlock()
		go func() {
			_, _ = io.Copy(k.master, c)
			k.mu.Lock()
			if k.client == c {
				k.client = nil
			}
			k.mu.Unlock()
			c.Close()
		}()
	}
}
