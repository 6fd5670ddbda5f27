package test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// newNetns makes a network namespace with lo up, removed at cleanup.
func newNetns(t *testing.T, prefix string) string {
	t.Helper()
	name := uniq(prefix)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	nsRun(t, name, "ip", "link", "set", "lo", "up")
	return name
}

// nsRun runs a command in a network namespace.
func nsRun(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v in %s: %v %s", args, ns, err, out)
	}
	return string(out)
}

// startDaemonInNetns runs lodged in a namespace of its own, with an
// "outside" namespace on 198.51.100.0/30 standing in for the world:
// lodged's side is .1, the outside is .2.
func startDaemonInNetns(t *testing.T) (*Daemon, string) {
	t.Helper()
	inner, outer := newNetns(t, "lns"), newNetns(t, "out")
	linkNetns(t, inner, outer, "198.51.100.1/30", "198.51.100.2/30")
	nsRun(t, inner, "ip", "route", "add", "default", "via", "198.51.100.2")
	d := &Daemon{t: t, Netns: inner}
	d = startDaemonWith(t, d)
	return d, outer
}

// linkNetns joins namespaces a and b by a veth pair, up, with an address
// (CIDR) on each end.
func linkNetns(t *testing.T, a, b, addrA, addrB string) {
	t.Helper()
	veth := uniq("vh")
	if out, err := exec.Command("ip", "link", "add", veth, "type", "veth", "peer", "name", veth+"p").CombinedOutput(); err != nil {
		t.Fatalf("veth: %v %s", err, out)
	}
	_ = exec.Command("ip", "link", "set", veth, "netns", a).Run()
	_ = exec.Command("ip", "link", "set", veth+"p", "netns", b).Run()
	nsRun(t, a, "ip", "addr", "add", addrA, "dev", veth)
	nsRun(t, a, "ip", "link", "set", veth, "up")
	nsRun(t, b, "ip", "addr", "add", addrB, "dev", veth+"p")
	nsRun(t, b, "ip", "link", "set", veth+"p", "up")
}

// listenIn serves TCP on addr inside namespace ns; each client gets back
// the address it came from (so NAT shows).
func listenIn(t *testing.T, ns, addr string) {
	t.Helper()
	serveIn(t, ns, addr, func(c net.Conn) {
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		fmt.Fprintf(c, "from %s\n", host)
		_, _ = bufio.NewReader(c).ReadString('\n')
	})
}

// listenSink accepts connections in a namespace and discards what they send.
func listenSink(t *testing.T, ns, addr string) {
	t.Helper()
	serveIn(t, ns, addr, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
}

func serveIn(t *testing.T, ns, addr string, handle func(net.Conn)) {
	t.Helper()
	ln := listenerIn(t, ns, addr)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
}

// listenerIn listens on addr inside namespace ns (the socket stays in it
// whichever thread accepts), closed at cleanup.
func listenerIn(t *testing.T, ns, addr string) net.Listener {
	t.Helper()
	lnc := make(chan net.Listener, 1)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			errc <- err
			return
		}
		lnc <- ln
	}()
	select {
	case err := <-errc:
		t.Fatalf("listen in %s: %v", ns, err)
	case ln := <-lnc:
		t.Cleanup(func() { ln.Close() })
		return ln
	}
	return nil
}

// dialIn dials TCP from inside namespace ns: the socket is made there,
// and works from any thread after.
func dialIn(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		done := make(chan result, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
			fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY, 0)
			if err != nil {
				done <- result{nil, err}
				return
			}
			defer unix.Close(fd)
			if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
				done <- result{nil, err}
				return
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			done <- result{c, err}
		}()
		r := <-done
		return r.c, r.err
	}
}

func nftRuleset(t *testing.T, ns string) string {
	t.Helper()
	return nsRun(t, ns, "nft", "list", "ruleset")
}

func hasLink(t *testing.T, ns, name string) bool {
	out, err := exec.Command("nsenter", "--net=/run/netns/"+ns, "ip", "link", "show", name).CombinedOutput()
	return err == nil && strings.Contains(string(out), name)
}
