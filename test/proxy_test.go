package test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// serveInInstance starts a tiny TCP server in the instance that answers "proxied".
func serveInInstance(t *testing.T, d *Daemon, name string, port int) {
	t.Helper()
	d.MustLodge("exec", name, "--", "sh", "-c", fmt.Sprintf("nc -ll -p %d -e /bin/echo proxied </dev/null >/dev/null 2>&1 &", port))
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func readFrom(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func TestProxyDevices(t *testing.T) {
	d := withBusybox(t, "--proxy-ports", "20000-65535")
	name := uniq("prx")
	d.MustLodge("launch", "busybox", name)
	serveInInstance(t, d, name, 80)
	port := freePort(t)
	listen := fmt.Sprintf("tcp:127.0.0.1:%d", port)
	d.MustLodge("config", "device", "add", name, "web", "proxy", "listen="+listen, "connect=tcp:127.0.0.1:80")
	var got string
	waitFor(t, "the proxy to answer", 5*time.Second, func() bool {
		got, _ = readFrom(fmt.Sprintf("127.0.0.1:%d", port))
		return got == "proxied"
	})
	// A port already taken is a 400 and the device is not kept.
	if _, stderr, err := d.Lodge("config", "device", "add", name, "web2", "proxy", "listen="+listen, "connect=tcp:127.0.0.1:80"); err == nil || !strings.Contains(stderr, "address already in use") {
		t.Fatalf("proxy on a taken port: %v %q", err, stderr)
	}
	if out := d.MustLodge("config", "device", "list", name); strings.Contains(out, "web2") {
		t.Fatal("the refused proxy was kept")
	}
	// Ports outside --proxy-ports are refused.
	if _, stderr, err := d.Lodge("config", "device", "add", name, "low", "proxy", "listen=tcp:127.0.0.1:8081", "connect=tcp:127.0.0.1:80"); err == nil || !strings.Contains(stderr, "proxy-ports") {
		t.Fatalf("proxy on a disallowed port: %v %q", err, stderr)
	}
	// The proxy survives a daemon restart.
	d.Kill()
	d.Start()
	waitFor(t, "the proxy after a daemon restart", 5*time.Second, func() bool {
		got, _ = readFrom(fmt.Sprintf("127.0.0.1:%d", port))
		return got == "proxied"
	})
	// bind=instance: a listener inside, connecting to the host.
	hostLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hostLn.Close()
	go func() {
		for {
			c, err := hostLn.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, "hello from the host")
			_, _ = io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	hostPort := hostLn.Addr().(*net.TCPAddr).Port
	d.MustLodge("config", "device", "add", name, "back", "proxy", "bind=instance", "listen=tcp:127.0.0.1:7000", fmt.Sprintf("connect=tcp:127.0.0.1:%d", hostPort))
	out := d.MustLodge("exec", name, "--", "sh", "-c", "echo | nc -w 2 127.0.0.1 7000")
	if !strings.Contains(out, "hello from the host") {
		t.Fatalf("bind=instance proxy: %q", out)
	}
	// Removing the device closes the listener.
	d.MustLodge("config", "device", "remove", name, "web")
	if _, err := readFrom(fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		t.Fatal("the removed proxy still answers")
	}
}

func TestProxyNAT(t *testing.T) {
	d, outside := startDaemonInNetns(t)
	d.MustLodge("image", "import", busyboxImage(t), "--alias", "busybox")
	br := uniq("pbr")
	d.MustLodge("network", "create", br, "ipv4.address=10.55.0.1/24", "ipv4.nat=true")
	name := uniq("pnat")
	launchOnNetwork(t, d, "busybox", name, br, "ipv4.address=10.55.0.7")
	ipv4Of(t, d, name)
	serveInInstance(t, d, name, 80)
	if _, stderr, err := d.Lodge("config", "device", "add", name, "bad", "proxy", "listen=tcp:198.51.100.1:8080", "connect=tcp:127.0.0.1:80", "nat=true"); err == nil || !strings.Contains(stderr, "pinned") {
		t.Fatalf("nat proxy to a non-pinned address: %v %q", err, stderr)
	}
	d.MustLodge("config", "device", "add", name, "web", "proxy", "listen=tcp:198.51.100.1:8080", "connect=tcp:10.55.0.7:80", "nat=true")
	if rules := nftRuleset(t, d.Netns); !strings.Contains(rules, "dnat ip to 10.55.0.7:80") {
		t.Fatalf("no DNAT rule:\n%s", rules)
	}
	var out []byte
	waitFor(t, "the outside to reach the instance through DNAT", 10*time.Second, func() bool {
		out, _ = exec.Command("nsenter", "--net=/run/netns/"+outside, "busybox", "nc", "-w", "2", "198.51.100.1", "8080").CombinedOutput()
		return strings.Contains(string(out), "proxied")
	})
	d.MustLodge("config", "device", "remove", name, "web")
	if rules := nftRuleset(t, d.Netns); strings.Contains(rules, "dnat") {
		t.Fatalf("DNAT left after removal:\n%s", rules)
	}
}

// TestProxyUDP forwards UDP from inside the instance to the host: busybox
// nslookup's query reaches a listener in the test through the proxy.
func TestProxyUDP(t *testing.T) {
	d := withBusybox(t)
	name := uniq("udp")
	d.MustLodge("launch", "busybox", name)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 1500)
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		got <- string(buf[:n])
		_, _ = pc.WriteTo(buf[:n], from) // echoed back: not a valid answer, but it travels back
	}()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	d.MustLodge("config", "device", "add", name, "dns", "proxy", "bind=instance", "listen=udp:127.0.0.1:53", fmt.Sprintf("connect=udp:127.0.0.1:%d", port))
	_, _, _ = d.Lodge("exec", name, "--", "nslookup", "-timeout=2", "proxy-test.example", "127.0.0.1")
	select {
	case q := <-got:
		if !strings.Contains(q, "proxy-test") {
			t.Fatalf("the proxied datagram: %q", q)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no datagram came through the UDP proxy")
	}
}
