package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// daemon is one manager under test, driven through Debian's lxc.
type daemon struct {
	name  string // "LXD" or "Lodge"
	dir   string
	conf  string
	start func() (*exec.Cmd, error)
	stop  func()
	cmd   *exec.Cmd
	http  *http.Client
}

func (d *daemon) socket() string { return filepath.Join(d.dir, "unix.socket") }

func (d *daemon) env() []string {
	return append(os.Environ(), "LXD_DIR="+d.dir, "LXD_CONF="+d.conf)
}

// lxc runs the lxc client against the daemon.
func (d *daemon) lxc(args ...string) (string, error) {
	cmd := exec.Command("lxc", args...)
	cmd.Env = d.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: lxc %s: %v: %s", d.name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func (d *daemon) mustLXC(args ...string) string {
	out, err := d.lxc(args...)
	if err != nil {
		fatal(err)
	}
	return out
}

func (d *daemon) client() *http.Client {
	if d.http == nil {
		d.http = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", d.socket())
		}}}
	}
	return d.http
}

func (d *daemon) get(path string) error {
	resp, err := d.client().Get("http://x" + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf := make([]byte, 32*1024)
	for {
		if _, err := resp.Body.Read(buf); err != nil {
			break
		}
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %d", path, resp.StatusCode)
	}
	return nil
}

// up starts the daemon and waits for GET /1.0; it returns how long that took.
func (d *daemon) up() time.Duration {
	d.http = nil
	t0 := time.Now()
	cmd, err := d.start()
	if err != nil {
		fatal(err)
	}
	d.cmd = cmd
	for time.Since(t0) < 60*time.Second {
		if d.get("/1.0") == nil {
			return time.Since(t0)
		}
		time.Sleep(2 * time.Millisecond)
	}
	fatal(fmt.Errorf("%s did not answer within 60s", d.name))
	return 0
}

// rss is the daemon process's resident memory in KiB.
func (d *daemon) rss() int64 {
	if d.cmd == nil || d.cmd.Process == nil {
		return 0
	}
	return rssOf(d.cmd.Process.Pid)
}

func rssOf(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// pidsMatching lists processes whose command line contains s.
func pidsMatching(s string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.Contains(strings.ReplaceAll(string(cmdline), "\x00", " "), s) {
			out = append(out, pid)
		}
	}
	return out
}

func newLXD(dir string) *daemon {
	d := &daemon{name: "LXD", dir: dir, conf: filepath.Join(dir, "conf")}
	d.start = func() (*exec.Cmd, error) {
		cmd := exec.Command("lxd", "--group", "root", "--logfile", filepath.Join(dir, "lxd.log"))
		cmd.Env = d.env()
		return cmd, cmd.Start()
	}
	d.stop = func() {
		cmd := exec.Command("lxd", "shutdown", "--timeout", "60")
		cmd.Env = d.env()
		_ = cmd.Run()
		if d.cmd != nil {
			_ = d.cmd.Wait()
		}
	}
	return d
}

func newLodge(dir, bin string) *daemon {
	d := &daemon{name: "Lodge", dir: dir, conf: filepath.Join(dir, "conf")}
	d.start = func() (*exec.Cmd, error) {
		log, _ := os.OpenFile(filepath.Join(dir, "lodged.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		cmd := exec.Command(bin, "--dir", dir)
		cmd.Stdout, cmd.Stderr = log, log
		return cmd, cmd.Start()
	}
	d.stop = func() {
		if d.cmd != nil {
			_ = d.cmd.Process.Signal(os.Interrupt)
			_ = d.cmd.Wait()
		}
	}
	return d
}
