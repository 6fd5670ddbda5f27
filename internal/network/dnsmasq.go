package network

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/warning"
)

// dnsmasq supervises one dnsmasq for one network: it restarts it when it
// dies, and replaces one left by an earlier lodged (found by its pid file).
type dnsmasq struct {
	dir    string // the network's state directory
	bridge string
	log    *slog.Logger
	// warnings hears of a dnsmasq that keeps exiting.
	warnings *warning.Service

	// exits are when dnsmasq last exited on its own, the latest last.
	exits []time.Time

	mu      sync.Mutex
	cmd     *exec.Cmd
	args    []string
	stopped bool
}

func (d *dnsmasq) pidFile() string   { return filepath.Join(d.dir, "dnsmasq.pid") }
func (d *dnsmasq) leaseFile() string { return filepath.Join(d.dir, "dnsmasq.leases") }
func (d *dnsmasq) hostsFile() string { return filepath.Join(d.dir, "dnsmasq.hosts") }
func (d *dnsmasq) logFile() string   { return filepath.Join(d.dir, "dnsmasq.log") }

// dnsmasqArgs renders the command line for a network's settings.
func dnsmasqArgs(d *dnsmasq, gw4, gw6 netip.Prefix, cfg map[string]string) []string {
	domain := cfg["dns.domain"]
	if domain == "" {
		domain = "lodge"
	}
	args := []string{"--keep-in-foreground", "--conf-file=/dev/null", "--strict-order", "--bind-interfaces",
		"--except-interface=lo", "--interface=" + d.bridge, "--no-ping", "--dhcp-no-override", "--dhcp-authoritative",
		"--pid-file=" + d.pidFile(), "--dhcp-leasefile=" + d.leaseFile(), "--dhcp-hostsfile=" + d.hostsFile(),
		"--domain=" + domain, "--local=/" + domain + "/", "--user=root", "--group=root", "--log-facility=-", "--quiet-dhcp"}
	if gw4.IsValid() {
		args = append(args, "--listen-address="+gw4.Addr().String())
		if IsTrue(cfg, "ipv4.dhcp", true) {
			for _, r := range dhcpRanges(gw4, cfg["ipv4.dhcp.ranges"]) {
				args = append(args, "--dhcp-range="+r+",1h")
			}
		}
	}
	if gw6.IsValid() {
		args = append(args, "--listen-address="+gw6.Addr().String(), "--enable-ra")
		if IsTrue(cfg, "ipv6.dhcp", true) {
			if IsTrue(cfg, "ipv6.dhcp.stateful", false) {
				// Addresses from DHCPv6 (the RA's managed flag), not SLAAC.
				args = append(args, "--dhcp-range=::1000,::ffff,constructor:"+d.bridge+",64,1h")
			} else {
				args = append(args, "--dhcp-range=::,constructor:"+d.bridge+",ra-stateless,ra-names")
			}
		} else {
			args = append(args, "--dhcp-range=::,constructor:"+d.bridge+",ra-only")
		}
	}
	return args
}

// dhcpRanges is ipv4.dhcp.ranges, or the subnet minus the bridge's address.
func dhcpRanges(gw netip.Prefix, ranges string) []string {
	if ranges != "" {
		var out []string
		for _, r := range strings.Split(ranges, ",") {
			a, b, _ := strings.Cut(strings.TrimSpace(r), "-")
			out = append(out, strings.TrimSpace(a)+","+strings.TrimSpace(b))
		}
		return out
	}
	p := gw.Masked()
	first := p.Addr().Next()
	last := lastAddr(p).Prev()
	if first == gw.Addr() {
		first = first.Next()
	}
	return []string{first.String() + "," + last.String()}
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	n := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	n |= (1 << (32 - p.Bits())) - 1
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// start (re)starts dnsmasq with args; a running one with the same args stays.
func (d *dnsmasq) start(args []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd != nil && !d.stopped && strings.Join(args, " ") == strings.Join(d.args, " ") {
		return nil
	}
	d.stopLocked()
	d.killLeftover()
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(d.hostsFile()); err != nil {
		if err := os.WriteFile(d.hostsFile(), nil, 0o644); err != nil {
			return err
		}
	}
	d.args, d.stopped = args, false
	return d.spawnLocked()
}

func (d *dnsmasq) spawnLocked() error {
	cmd := exec.Command("dnsmasq", d.args...)
	logf, err := os.OpenFile(d.logFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err == nil {
		cmd.Stdout, cmd.Stderr = logf, logf
	}
	// A session of its own: DHCP keeps working while lodged restarts.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		if logf != nil {
			logf.Close()
		}
		return fmt.Errorf("start dnsmasq for %s: %w", d.bridge, err)
	}
	d.cmd = cmd
	go d.watch(cmd, logf)
	return nil
}

// watch restarts dnsmasq if it dies while it should run. A dnsmasq that
// exits again within crashWindow of its last exit is raised as a warning
// on its network, resolved once a restart has run crashWindow.
func (d *dnsmasq) watch(cmd *exec.Cmd, logf *os.File) {
	err := cmd.Wait()
	if logf != nil {
		logf.Close()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped || d.cmd != cmd {
		return
	}
	d.log.Warn("dnsmasq exited; restarting", "network", d.bridge, "err", err)
	now := time.Now()
	recent := d.exits[:0]
	for _, t := range d.exits {
		if now.Sub(t) < crashWindow {
			recent = append(recent, t)
		}
	}
	d.exits = append(recent, now)
	if len(d.exits) >= 2 {
		d.warnings.Raise(warning.DnsmasqRestarting, "", "/1.0/networks/"+d.bridge,
			fmt.Sprintf("dnsmasq of network %s exited %d times in %s (last: %v); DHCP and DNS on it stop while it is down; its log is %s",
				d.bridge, len(d.exits), crashWindow, err, d.logFile()))
	}
	time.Sleep(time.Second)
	if d.stopped || d.cmd != cmd {
		return
	}
	if err := d.spawnLocked(); err != nil {
		d.log.Error("restart dnsmasq", "network", d.bridge, "err", err)
		return
	}
	restarted := d.cmd
	time.AfterFunc(crashWindow, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.cmd == restarted && !d.stopped {
			d.exits = nil
			d.warnings.Resolve(warning.DnsmasqRestarting, "", "/1.0/networks/"+d.bridge)
		}
	})
}

// crashWindow is how close two exits of a network's dnsmasq make it one
// that keeps exiting, and how long a restart must run to clear that.
var crashWindow = 5 * time.Minute

// killLeftover ends a dnsmasq an earlier lodged started for this network.
func (d *dnsmasq) killLeftover() {
	data, err := os.ReadFile(d.pidFile())
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if !strings.Contains(string(cmdline), "--interface="+d.bridge+"\x00") {
		return // the pid was reused by something else
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 50 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *dnsmasq) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked()
	d.killLeftover()
}

func (d *dnsmasq) stopLocked() {
	d.stopped = true
	if d.cmd != nil && d.cmd.Process != nil {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
	}
	d.cmd = nil
}

// reloadWait bounds how long reload waits for dnsmasq to say it re-read
// its hosts file.
const reloadWait = 3 * time.Second

// reload makes dnsmasq re-read its hosts file and waits until its log says
// it has: SIGHUP is handled in dnsmasq's main loop, and a DHCP exchange that
// follows the API call that changed an entry must get the new one.
func (d *dnsmasq) reload() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil || d.cmd.Process == nil {
		return nil
	}
	var from int64
	if st, err := os.Stat(d.logFile()); err == nil {
		from = st.Size()
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		return fmt.Errorf("signal dnsmasq: %w", err)
	}
	done := "read " + d.hostsFile() + "\n"
	for deadline := time.Now().Add(reloadWait); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if logSince(d.logFile(), from, done) {
			return nil
		}
	}
	return fmt.Errorf("dnsmasq did not re-read %s within %s", d.hostsFile(), reloadWait)
}

// logSince says whether the file holds text past offset from.
func logSince(path string, from int64, text string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	n, _ := f.ReadAt(buf, from)
	return strings.Contains(string(buf[:n]), text)
}

// HostEntry pins a MAC to a name (and maybe an address) in DHCP and DNS.
type HostEntry struct {
	MAC, IPv4, IPv6, Name string
}

// writeHosts replaces the hosts file atomically.
func (d *dnsmasq) writeHosts(entries []HostEntry) error {
	var b strings.Builder
	for _, e := range entries {
		fields := []string{e.MAC}
		if e.IPv4 != "" {
			fields = append(fields, e.IPv4)
		}
		if e.IPv6 != "" {
			fields = append(fields, "["+e.IPv6+"]")
		}
		fields = append(fields, e.Name)
		fmt.Fprintf(&b, "%s\n", strings.Join(fields, ","))
	}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return err
	}
	tmp := d.hostsFile() + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, d.hostsFile())
}

// leaseLine is one lease of dnsmasq's lease file.
type leaseLine struct {
	api.NetworkLease
	// iaid and clientDUID name a DHCPv6 lease in a RELEASE; iaid is -1 for
	// IPv4 leases and temporary (IA_TA) addresses, which are left to expire.
	iaid       int64
	clientDUID []byte
}

// readLeases reads dnsmasq's lease file: IPv4 lines are "expiry MAC
// address hostname client-id"; a "duid SERVER-DUID" line precedes the IPv6
// ones, "expiry IAID address hostname client-DUID", whose MAC is known only
// when the DUID is link-layer based.
func (d *dnsmasq) readLeases() (serverDUID []byte, out []leaseLine) {
	f, err := os.Open(d.leaseFile())
	if err != nil {
		return nil, nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && fields[0] == "duid" {
			serverDUID = parseDUID(fields[1])
			continue
		}
		if len(fields) < 4 {
			continue
		}
		name := fields[3]
		if name == "*" {
			name = ""
		}
		l := leaseLine{NetworkLease: api.NetworkLease{Hostname: name, Hwaddr: fields[1], Address: fields[2], Type: "dynamic", Location: "none"}, iaid: -1}
		if strings.Contains(l.Address, ":") {
			l.Hwaddr = ""
			if len(fields) > 4 {
				l.clientDUID = parseDUID(fields[4])
				l.Hwaddr = macFromDUID(l.clientDUID)
			}
			if iaid, err := strconv.ParseUint(fields[1], 10, 32); err == nil {
				l.iaid = int64(iaid)
			}
		}
		out = append(out, l)
	}
	return serverDUID, out
}

// leases lists the leases of dnsmasq's lease file.
func (d *dnsmasq) leases() []api.NetworkLease {
	_, lines := d.readLeases()
	var out []api.NetworkLease
	for _, l := range lines {
		out = append(out, l.NetworkLease)
	}
	return out
}

// parseDUID reads a DUID written as colon-separated hex bytes.
func parseDUID(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
	if err != nil || len(b) < 2 {
		return nil
	}
	return b
}

// macFromDUID is the MAC in an Ethernet DUID-LLT or DUID-LL (RFC 8415),
// or "" for other DUIDs (systemd-networkd's default, DUID-EN, has none).
func macFromDUID(b []byte) string {
	if len(b) < 4 || binary.BigEndian.Uint16(b[2:]) != 1 {
		return ""
	}
	switch typ := binary.BigEndian.Uint16(b); {
	case typ == 1 && len(b) == 14:
		return net.HardwareAddr(b[8:]).String()
	case typ == 3 && len(b) == 10:
		return net.HardwareAddr(b[4:]).String()
	}
	return ""
}
