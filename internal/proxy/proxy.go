// Package proxy forwards connections between the host and an instance for
// proxy devices: listen on one side, connect on the other, in userspace.
// Sockets on the instance's side are made inside its network namespace
// (a socket belongs to the namespace it was created in), so no address of
// the instance needs to be reachable from the host.
package proxy

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Endpoint is "tcp:ADDR:PORT" or "udp:ADDR:PORT" parsed.
type Endpoint struct {
	Proto, Addr string
}

// ParseEndpoint reads a listen= or connect= value.
func ParseEndpoint(v string) (Endpoint, error) {
	proto, rest, ok := strings.Cut(v, ":")
	if !ok || (proto != "tcp" && proto != "udp") {
		if proto == "unix" {
			return Endpoint{}, fmt.Errorf("%q: unix sockets are not supported yet (tcp or udp)", v)
		}
		return Endpoint{}, fmt.Errorf("%q: use tcp:ADDRESS:PORT or udp:ADDRESS:PORT", v)
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		return Endpoint{}, fmt.Errorf("%q: use tcp:ADDRESS:PORT or udp:ADDRESS:PORT", v)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return Endpoint{}, fmt.Errorf("%q: port %q is not 1-65535", v, port)
	}
	if host != "" && net.ParseIP(host) == nil {
		return Endpoint{}, fmt.Errorf("%q: %q is not an IP address", v, host)
	}
	return Endpoint{Proto: proto, Addr: net.JoinHostPort(host, port)}, nil
}

// Port returns the endpoint's port.
func (e Endpoint) Port() int {
	_, p, _ := net.SplitHostPort(e.Addr)
	n, _ := strconv.Atoi(p)
	return n
}

// Host returns the endpoint's address.
func (e Endpoint) Host() string {
	h, _, _ := net.SplitHostPort(e.Addr)
	return h
}

// inNetns runs fn on a thread that joined pid's network namespace; the
// thread is discarded afterwards.
func inNetns(pid int, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread goes with the goroutine
		fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/net", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("join network namespace: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Proxy is one running proxy device.
type Proxy struct {
	listen, connect Endpoint
	pid             int
	bindInstance    bool
	closers         []io.Closer
	mu              sync.Mutex
	closed          bool
}

// Start listens and forwards. With bindInstance the listener is inside
// the instance and connections go to the host; otherwise the reverse.
func Start(pid int, listen, connect Endpoint, bindInstance bool) (*Proxy, error) {
	if listen.Proto != connect.Proto {
		return nil, fmt.Errorf("listen and connect must use the same protocol (%s vs %s)", listen.Proto, connect.Proto)
	}
	p := &Proxy{listen: listen, connect: connect, pid: pid, bindInstance: bindInstance}
	listenFn := func() error {
		if listen.Proto == "tcp" {
			ln, err := net.Listen("tcp", listen.Addr)
			if err != nil {
				return err
			}
			p.closers = append(p.closers, ln)
			go p.serveTCP(ln)
			return nil
		}
		pc, err := net.ListenPacket("udp", listen.Addr)
		if err != nil {
			return err
		}
		p.closers = append(p.closers, pc)
		go p.serveUDP(pc)
		return nil
	}
	var err error
	if bindInstance {
		err = inNetns(pid, listenFn)
	} else {
		err = listenFn()
	}
	if err != nil {
		return nil, fmt.Errorf("listen on %s:%s: %w", listen.Proto, listen.Addr, err)
	}
	return p, nil
}

// dial connects on the far side.
func (p *Proxy) dial() (net.Conn, error) {
	if p.bindInstance {
		return net.DialTimeout(p.connect.Proto, p.connect.Addr, 10*time.Second)
	}
	var c net.Conn
	err := inNetns(p.pid, func() error {
		var err error
		c, err = net.DialTimeout(p.connect.Proto, p.connect.Addr, 10*time.Second)
		return err
	})
	return c, err
}

func (p *Proxy) serveTCP(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			up, err := p.dial()
			if err != nil {
				return
			}
			defer up.Close()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(up, c); closeWrite(up); done <- struct{}{} }()
			go func() { _, _ = io.Copy(c, up); closeWrite(c); done <- struct{}{} }()
			<-done
			<-done
		}()
	}
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// serveUDP keeps one upstream socket per client address, dropped after a
// minute without traffic.
func (p *Proxy) serveUDP(pc net.PacketConn) {
	type session struct {
		up   net.Conn
		last time.Time
	}
	var mu sync.Mutex
	sessions := map[string]*session{}
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			mu.Lock()
			for _, s := range sessions {
				s.up.Close()
			}
			mu.Unlock()
			return
		}
		mu.Lock()
		s, ok := sessions[from.String()]
		if !ok {
			up, err := p.dial()
			if err != nil {
				mu.Unlock()
				continue
			}
			s = &session{up: up}
			sessions[from.String()] = s
			go func(key string, s *session, to net.Addr) {
				rb := make([]byte, 65535)
				for {
					_ = s.up.SetReadDeadline(time.Now().Add(time.Minute))
					n, err := s.up.Read(rb)
					if err != nil {
						mu.Lock()
						delete(sessions, key)
						mu.Unlock()
						s.up.Close()
						return
					}
					_, _ = pc.WriteTo(rb[:n], to)
				}
			}(from.String(), s, from)
		}
		s.last = time.Now()
		mu.Unlock()
		_, _ = s.up.Write(buf[:n])
	}
}

// Close stops the proxy; open connections finish on their own.
func (p *Proxy) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	for _, c := range p.closers {
		c.Close()
	}
}
