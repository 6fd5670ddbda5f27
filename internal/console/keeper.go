// Package console keeps containers' consoles. One small keeper process per
// daemon directory (`lodged console-keeper DIR`, outside lodged, so consoles
// survive a daemon restart) holds the pty master of every running
// container's init, writes what init prints to logs/<name>/console.log, and
// lets one client at a time attach through logs/<name>/console.socket.
package console

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxLog bounds console.log; past it the log starts over.
const maxLog = 1 << 20

// LogPath is a container's console log in its log directory.
func LogPath(logDir string) string { return filepath.Join(logDir, "console.log") }

// SocketPath is where a client attaches to a container's console.
func SocketPath(logDir string) string { return filepath.Join(logDir, "console.socket") }

func keeperSocket(dir string) string { return filepath.Join(dir, "console-keeper.socket") }

// request is what lodged sends the keeper; a register request carries the
// pty master as SCM_RIGHTS.
type request struct {
	Op     string `json:"op"` // register or resize
	Pid    int    `json:"pid,omitempty"`
	LogDir string `json:"log_dir"`
	Cols   uint16 `json:"cols,omitempty"`
	Rows   uint16 `json:"rows,omitempty"`
}

// Register hands a container's pty master to the daemon directory's
// keeper, starting the keeper if it is not running. A keeper that was
// exiting (it had no console left) when it got the request answers
// nothing; the request then goes to a new one.
func Register(self, dir string, master *os.File, pid int, logDir string) error {
	req := request{Op: "register", Pid: pid, LogDir: logDir}
	err := send(self, dir, req, master, true)
	if errors.Is(err, errKeeperGone) {
		err = send(self, dir, req, master, true)
	}
	return err
}

// Resize sets a console's window size. With no keeper running there is no
// console to resize, and none is started.
func Resize(self, dir, logDir string, cols, rows uint16) error {
	return send(self, dir, request{Op: "resize", LogDir: logDir, Cols: cols, Rows: rows}, nil, false)
}

var errKeeperGone = errors.New("console keeper went away")

func send(self, dir string, req request, fd *os.File, start bool) error {
	var conn *net.UnixConn
	var err error
	if start {
		conn, err = dialKeeper(self, dir)
	} else {
		conn, err = net.DialUnix("unix", nil, &net.UnixAddr{Name: keeperSocket(dir), Net: "unix"})
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	data, _ := json.Marshal(req)
	var oob []byte
	if fd != nil {
		oob = unix.UnixRights(int(fd.Fd()))
	}
	if _, _, err := conn.WriteMsgUnix(data, oob, nil); err != nil {
		return fmt.Errorf("console keeper: %w", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	reply, err := bufio.NewReader(conn).ReadString('\n')
	if errors.Is(err, io.EOF) && reply == "" {
		return errKeeperGone
	}
	if err != nil {
		return fmt.Errorf("console keeper: %w", err)
	}
	if reply != "ok\n" {
		return fmt.Errorf("console keeper: %s", reply)
	}
	return nil
}

// dialKeeper connects to the keeper, starting one if none answers.
func dialKeeper(self, dir string) (*net.UnixConn, error) {
	addr := &net.UnixAddr{Name: keeperSocket(dir), Net: "unix"}
	if c, err := net.DialUnix("unix", nil, addr); err == nil {
		return c, nil
	}
	cmd := exec.Command(self, "console-keeper", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start console keeper: %w", err)
	}
	go func() { _ = cmd.Wait() }() // reap it if it ends while lodged runs
	for i := 0; i < 200; i++ {
		if c, err := net.DialUnix("unix", nil, addr); err == nil {
			return c, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil, errors.New("console keeper did not come up")
}

// RunKeeper is the keeper's main: args are the daemon directory.
func RunKeeper(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: console-keeper DIR")
	}
	sock := keeperSocket(args[0])
	// Another keeper already serving this directory: leave it be.
	if c, err := net.Dial("unix", sock); err == nil {
		c.Close()
		return nil
	}
	_ = os.Remove(sock)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return err
	}
	ln.SetUnlinkOnClose(false) // exitWhenIdle removes the path itself
	_ = os.Chmod(sock, 0o600)
	k := &keeper{consoles: map[string]*pty{}}
	go k.exitWhenIdle(ln, sock)
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			return err
		}
		go k.serve(c)
	}
}

// idleChecks is how many checks, idleEvery apart, find the keeper holding
// no console before it exits: it outlives no instance by more than that,
// and the next start of an instance starts a keeper again.
const (
	idleChecks = 2
	idleEvery  = time.Second
)

// exitWhenIdle ends the keeper once it has held no console for a while.
// The decision is taken under the lock register takes, so a register
// either lands before it (and the keeper stays) or finds the keeper gone
// (and its client starts another).
func (k *keeper) exitWhenIdle(ln *net.UnixListener, sock string) {
	idle := 0
	for range time.Tick(idleEvery) {
		k.mu.Lock()
		if len(k.consoles) > 0 {
			idle = 0
			k.mu.Unlock()
			continue
		}
		if idle++; idle < idleChecks {
			k.mu.Unlock()
			continue
		}
		// The path goes first, while the listener still holds it: a
		// keeper started meanwhile binds a path of its own, which this
		// one must not then remove.
		_ = os.Remove(sock)
		ln.Close()
		os.Exit(0)
	}
}

type keeper struct {
	mu       sync.Mutex
	consoles map[string]*pty // by log directory
}

// pty is one container's console.
type pty struct {
	master  *os.File
	peer    int
	log     *os.File
	written int64
	client  net.Conn
	ln      net.Listener
	mu      sync.Mutex
}

func (k *keeper) serve(c *net.UnixConn) {
	defer c.Close()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return
	}
	var req request
	if err := json.Unmarshal(buf[:n], &req); err != nil {
		fmt.Fprintf(c, "bad request\n")
		return
	}
	switch req.Op {
	case "register":
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			fmt.Fprintf(c, "no pty received\n")
			return
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			fmt.Fprintf(c, "no pty received\n")
			return
		}
		if err := k.register(os.NewFile(uintptr(fds[0]), "pty-master"), req.Pid, req.LogDir); err != nil {
			fmt.Fprintf(c, "%v\n", err)
			return
		}
	case "resize":
		k.mu.Lock()
		p := k.consoles[req.LogDir]
		k.mu.Unlock()
		if p != nil && req.Cols > 0 && req.Rows > 0 {
			_ = unix.IoctlSetWinsize(int(p.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: req.Cols, Row: req.Rows})
		}
	}
	fmt.Fprintf(c, "ok\n")
}

func (k *keeper) register(master *os.File, pid int, logDir string) error {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		master.Close()
		return fmt.Errorf("watch init %d: %w", pid, err)
	}
	log, err := os.OpenFile(LogPath(logDir), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		master.Close()
		unix.Close(pidfd)
		return err
	}
	p := &pty{master: master, log: log, peer: -1}
	// Holding the slave side open keeps the pty from hanging up whenever
	// init closes its console (systemd does, between boot steps).
	if peer, err := unix.IoctlRetInt(int(master.Fd()), unix.TIOCGPTPEER); err == nil {
		p.peer = peer
	}
	sock := SocketPath(logDir)
	_ = os.Remove(sock)
	if p.ln, err = net.Listen("unix", sock); err != nil {
		p.close()
		unix.Close(pidfd)
		return err
	}
	k.mu.Lock()
	if old := k.consoles[logDir]; old != nil {
		old.close()
	}
	k.consoles[logDir] = p
	k.mu.Unlock()
	go p.pump()
	go p.accept()
	go func() { // until init ends
		defer unix.Close(pidfd)
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
				break
			}
			if fds[0].Revents != 0 {
				break
			}
		}
		k.mu.Lock()
		if k.consoles[logDir] == p {
			delete(k.consoles, logDir)
			_ = os.Remove(sock)
		}
		k.mu.Unlock()
		p.close()
	}()
	return nil
}

func (p *pty) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
	}
	if p.client != nil {
		p.client.Close()
	}
	if p.peer >= 0 {
		unix.Close(p.peer)
		p.peer = -1
	}
	p.master.Close()
	p.log.Close()
}

// pump copies init's output to the log and the attached client.
func (p *pty) pump() {
	buf := make([]byte, 32*1024)
	for {
		n, err := p.master.Read(buf)
		if n > 0 {
			p.mu.Lock()
			if p.written+int64(n) > maxLog {
				_ = p.log.Truncate(0)
				_, _ = p.log.Seek(0, io.SeekStart)
				p.written = 0
			}
			w, _ := p.log.Write(buf[:n])
			p.written += int64(w)
			if p.client != nil {
				if _, err := p.client.Write(buf[:n]); err != nil {
					p.client.Close()
					p.client = nil
				}
			}
			p.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// accept attaches clients; a new one replaces the old, as with lxc console.
func (p *pty) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.client != nil {
			p.client.Close()
		}
		p.client = c
		p.mu.Unlock()
		go func() {
			_, _ = io.Copy(p.master, c)
			p.mu.Lock()
			if p.client == c {
				p.client = nil
			}
			p.mu.Unlock()
			c.Close()
		}()
	}
}
