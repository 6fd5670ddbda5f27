// End-to-end tests: they start the real lodged (bin/, built by make) on a
// scratch directory and drive it with lodge, Debian's lxc and pylxd.
package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/instance/runtime/container"
	"github.com/lodge-project/lodge/internal/migration"
	"github.com/lodge-project/lodge/internal/storage/storagetest"
)

var (
	repoRoot, _ = filepath.Abs("..")
	lodgedBin   = filepath.Join(repoRoot, "bin", "lodged")
	lodgeBin    = filepath.Join(repoRoot, "bin", "lodge")
	cacheDir    = filepath.Join(repoRoot, "test", ".cache")
)

func TestMain(m *testing.M) {
	// A test's own migration source runs rsync in a sandbox of this binary.
	if migration.Reexec(os.Args) {
		return
	}
	if os.Geteuid() != 0 {
		fmt.Println("end-to-end tests need root (containers, cgroups): skipping")
		os.Exit(0)
	}
	for _, bin := range []string{lodgedBin, lodgeBin} {
		if _, err := os.Stat(bin); err != nil {
			fmt.Printf("%s is missing: run `make build` first\n", bin)
			os.Exit(1)
		}
	}
	code := m.Run()
	stopLxcfs()
	os.Exit(code)
}

// Daemon is one lodged under test.
type Daemon struct {
	t    *testing.T
	Dir  string
	conf string // LXD_CONF for lxc
	args []string
	// Netns, when set, is the network namespace lodged runs in.
	Netns string
	// Env is added to lodged's environment at each Start.
	Env []string
	// Bin, when set, is the lodged binary to run instead of bin/lodged.
	Bin    string
	cmd    *exec.Cmd
	log    *os.File
	http   *http.Client
	stopMu sync.Mutex
}

// startDaemon starts lodged on a fresh directory; cleanup removes everything
// it made, even when the test fails.
func startDaemon(t *testing.T, extraArgs ...string) *Daemon {
	t.Helper()
	return startDaemonWith(t, &Daemon{t: t, args: extraArgs})
}

func startDaemonWith(t *testing.T, d *Daemon) *Daemon {
	t.Helper()
	// Short: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("/tmp", "lodge-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	d.Dir, d.conf = dir, filepath.Join(dir, "lxc-conf")
	d.http = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", filepath.Join(dir, "unix.socket"))
	}}}
	d.Start()
	t.Cleanup(d.cleanup)
	return d
}

// Start runs lodged (again) on the daemon's directory and waits for its API.
func (d *Daemon) Start() {
	d.t.Helper()
	log, err := os.OpenFile(filepath.Join(d.Dir, "lodged.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		d.t.Fatal(err)
	}
	d.log = log
	args := append([]string{"--dir", d.Dir, "--debug"}, d.args...)
	bin := lodgedBin
	if d.Bin != "" {
		bin = d.Bin
	}
	d.cmd = exec.Command(bin, args...)
	if d.Netns != "" {
		// nsenter rather than ip netns exec, which remounts /sys.
		d.cmd = exec.Command("nsenter", append([]string{"--net=/run/netns/" + d.Netns, bin}, args...)...)
	}
	d.cmd.Stdout, d.cmd.Stderr = log, log
	d.cmd.Env = append(os.Environ(), d.Env...)
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	waitFor(d.t, "lodged to answer", 10*time.Second, func() bool {
		resp, err := d.http.Get("http://lodge/1.0")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// Kill ends lodged abruptly (SIGKILL), as a crash would.
func (d *Daemon) Kill() {
	d.stopMu.Lock()
	defer d.stopMu.Unlock()
	if d.cmd != nil && d.cmd.Process != nil {
		_ = d.cmd.Process.Kill()
		_ = d.cmd.Wait()
		d.cmd = nil
	}
	if d.log != nil {
		d.log.Close()
	}
}

// Stop ends lodged as a service manager does (SIGTERM) and waits for it:
// instances keep running, stopped ones' volumes are unmounted.
func (d *Daemon) Stop() {
	d.stopMu.Lock()
	defer d.stopMu.Unlock()
	if d.cmd != nil && d.cmd.Process != nil {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = d.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = d.cmd.Process.Kill()
			<-done
		}
		d.cmd = nil
	}
	if d.log != nil {
		d.log.Close()
	}
}

// mountsBelow lists the mount points under dir.
func mountsBelow(dir string) []string {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

func (d *Daemon) cleanup() {
	if d.t.Failed() {
		if data, err := os.ReadFile(filepath.Join(d.Dir, "lodged.log")); err == nil {
			lines := strings.Split(string(data), "\n")
			if len(lines) > 80 {
				lines = lines[len(lines)-80:]
			}
			d.t.Logf("lodged.log (last lines):\n%s", strings.Join(lines, "\n"))
		}
	}
	if d.cmd != nil {
		// Stop every instance through the API while lodged still runs.
		var names []string
		if st, env := d.API("GET", "/1.0/instances", nil); st == 200 {
			_ = json.Unmarshal(env.Metadata, &names)
		}
		for _, u := range names {
			name := filepath.Base(u)
			d.API("PUT", "/1.0/instances/"+name+"/state", api.InstanceStatePut{Action: "stop", Force: true})
		}
	}
	if d.cmd != nil {
		var nets []string
		if st, env := d.API("GET", "/1.0/networks", nil); st == 200 {
			_ = json.Unmarshal(env.Metadata, &nets)
		}
		for _, u := range nets {
			d.API("DELETE", u, nil)
		}
	}
	d.Stop()
	_ = exec.Command("pkill", "-9", "-f", "dnsmasq.*"+d.Dir).Run()
	// Whatever is left (a test that killed lodged): kill init processes and
	// keepers by their state, remove cgroups.
	_ = exec.Command("pkill", "-9", "-f", "console-keeper "+d.Dir).Run()
	runtimeDir := filepath.Join(d.Dir, "runtime")
	entries, _ := os.ReadDir(runtimeDir)
	for _, e := range entries {
		var st struct {
			Pid int `json:"init_process_pid"`
		}
		if data, err := os.ReadFile(filepath.Join(runtimeDir, e.Name(), "state.json")); err == nil && json.Unmarshal(data, &st) == nil && st.Pid > 0 {
			_ = exec.Command("kill", "-9", fmt.Sprint(st.Pid)).Run()
		}
		removeCgroups(e.Name())
	}
	// The daemon's own parent cgroup, in every hierarchy.
	parent := container.CgroupParent(d.Dir)
	parents, _ := filepath.Glob("/sys/fs/cgroup/*" + parent)
	for _, p := range append(parents, "/sys/fs/cgroup"+parent) {
		// Instances without runtime state (a crash inside a start) may
		// have left an empty cgroup of their own below it.
		children, _ := os.ReadDir(p)
		for _, c := range children {
			if c.IsDir() {
				_ = os.Remove(filepath.Join(p, c.Name())) // only if empty
			}
		}
		_ = os.Remove(p) // only if empty
	}
	_ = storagetest.UnmountBelow(d.Dir)
	_ = os.RemoveAll(d.Dir)
}

// instanceCgroups are an instance's cgroup directories in every hierarchy:
// <parent>/<name>, where each daemon has a parent of its own (lodge, or
// lodge-<hash of its directory>); test instance names are unique.
func instanceCgroups(name string) []string {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/lodge*/" + name)
	if u, _ := filepath.Glob("/sys/fs/cgroup/lodge*/" + name); u != nil {
		dirs = append(dirs, u...)
	}
	return dirs
}

// removeCgroups deletes an instance's cgroups, deepest first.
func removeCgroups(name string) {
	dirs := instanceCgroups(name)
	for _, dir := range dirs {
		var all []string
		_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
			if err == nil && info.IsDir() {
				all = append(all, p)
			}
			return nil
		})
		for i := len(all) - 1; i >= 0; i-- {
			_ = os.Remove(all[i])
		}
	}
}

// run executes a command and returns stdout, stderr and the error.
func run(env []string, stdin string, name string, args ...string) (string, string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return "", "", err
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), errb.String(), err
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		return out.String(), errb.String(), fmt.Errorf("%s %v: timed out", name, args)
	}
}

// Lodge runs the lodge CLI against this daemon.
func (d *Daemon) Lodge(args ...string) (string, string, error) {
	return run([]string{"LODGE_DIR=" + d.Dir}, "", lodgeBin, args...)
}

// MustLodge runs lodge and fails the test on an error.
func (d *Daemon) MustLodge(args ...string) string {
	d.t.Helper()
	out, errOut, err := d.Lodge(args...)
	if err != nil {
		d.t.Fatalf("lodge %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// LodgeIn runs lodge with the given stdin.
func (d *Daemon) LodgeIn(stdin string, args ...string) (string, string, error) {
	return run([]string{"LODGE_DIR=" + d.Dir}, stdin, lodgeBin, args...)
}

// LXC runs Debian's lxc client against this daemon.
func (d *Daemon) LXC(args ...string) (string, string, error) {
	return run(d.lxcEnv(), "", "lxc", args...)
}

// MustLXC runs lxc and fails the test on an error.
func (d *Daemon) MustLXC(args ...string) string {
	d.t.Helper()
	out, errOut, err := d.LXC(args...)
	if err != nil {
		d.t.Fatalf("lxc %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// API sends a raw request and returns the status and envelope.
func (d *Daemon) API(method, path string, body any) (int, api.Response) {
	d.t.Helper()
	var r io.Reader
	if body != nil {
		if b, ok := body.([]byte); ok {
			r = bytes.NewReader(b)
		} else {
			data, err := json.Marshal(body)
			if err != nil {
				d.t.Fatal(err)
			}
			r = bytes.NewReader(data)
		}
	}
	req, err := http.NewRequest(method, "http://lodge"+path, r)
	if err != nil {
		d.t.Fatal(err)
	}
	resp, err := d.http.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var env api.Response
	data, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(data, &env)
	if resp.StatusCode == http.StatusAccepted && env.Operation != "" {
		// Wait, so tests see the operation's outcome.
		waitSt, waitEnv := d.API("GET", env.Operation+"/wait?timeout=60", nil)
		var op api.Operation
		_ = json.Unmarshal(waitEnv.Metadata, &op)
		if waitSt != 200 || op.StatusCode != api.Success {
			return 400, api.Response{Type: api.ErrorResponse, Error: op.Err, ErrorCode: 400, Metadata: waitEnv.Metadata}
		}
		env.Metadata = waitEnv.Metadata
	}
	return resp.StatusCode, env
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

func uniq(prefix string) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

var (
	imagesMu sync.Mutex
	images   = map[string]error{} // built this run, and how that went
)

// cachedImage builds a test image with one of the project's scripts, once
// per run, into test/.cache.
func cachedImage(t *testing.T, file, script string) string {
	t.Helper()
	return cachedImageWith(t, file, script)
}

// cachedImageWith builds an image with script and its extra arguments,
// once per run.
func cachedImageWith(t *testing.T, file, script string, args ...string) string {
	t.Helper()
	path := filepath.Join(cacheDir, file)
	imagesMu.Lock()
	defer imagesMu.Unlock()
	err, built := images[file]
	if !built {
		_ = os.MkdirAll(cacheDir, 0o755)
		if _, errOut, rerr := run(nil, "", filepath.Join(repoRoot, "scripts", script), append([]string{path}, args...)...); rerr != nil {
			err = fmt.Errorf("%s: %v: %s", script, rerr, errOut)
		}
		images[file] = err
	}
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// busyboxImage builds the busybox test image once per run.
func busyboxImage(t *testing.T) string {
	t.Helper()
	return cachedImage(t, "busybox.tar.gz", "build-busybox-image.sh")
}

// withBusybox starts a daemon and imports the busybox image as "busybox".
func withBusybox(t *testing.T, extraArgs ...string) *Daemon {
	d := startDaemon(t, extraArgs...)
	d.MustLodge("image", "import", busyboxImage(t), "--alias", "busybox")
	return d
}

// cgroupFile reads a file of an instance's cgroup in one v1 controller.
func cgroupFile(t *testing.T, controller, name, file string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", controller, "lodge*", name, file))
	if len(files) != 1 {
		t.Fatalf("cgroup file %s of %s in %s: found %v", file, name, controller, files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatalf("read cgroup file: %v", err)
	}
	return strings.TrimSpace(string(data))
}

func cgroupExists(name string) bool { return len(instanceCgroups(name)) > 0 }

// mustRequest sends a raw JSON body with an If-Match header and returns the status.
func mustRequest(t *testing.T, d *Daemon, method, path, body, ifMatch string) int {
	t.Helper()
	req, err := http.NewRequest(method, "http://lodge"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	resp, err := d.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// ETag returns the ETag header of a GET.
func (d *Daemon) ETag(path string) string {
	resp, err := d.http.Get("http://lodge" + path)
	if err != nil {
		d.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("ETag")
}

func readFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	return string(data), err
}

// lxcEnv is the environment lxc needs to reach this daemon.
func (d *Daemon) lxcEnv() []string { return []string{"LXD_DIR=" + d.Dir, "LXD_CONF=" + d.conf} }
