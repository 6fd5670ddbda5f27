package attach

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lodge-project/lodge/internal/procfs"
	"golang.org/x/sys/unix"
)

// target starts a process in new user, mount, uts, ipc, net and pid
// namespaces (unshare(1)) and returns its pid and start time.
func target(t testing.TB) (int, uint64) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	cmd := exec.Command("unshare", "--user", "--map-root-user", "--mount", "--uts", "--ipc", "--net", "--pid", "--fork", "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	children := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/task/" + strconv.Itoa(cmd.Process.Pid) + "/children"
	for i := 0; i < 200; i++ {
		data, _ := os.ReadFile(children)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
			started, _, err := procfs.StartTime(pid)
			if err != nil {
				t.Fatal(err)
			}
			start, _ := strconv.ParseUint(started, 10, 64)
			// unshare execs sleep in the child: wait until it has.
			if exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); strings.HasSuffix(exe, "sleep") {
				return pid, start
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("unshare's child did not start")
	return 0, 0
}

const allNamespaces = unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWNET | unix.CLONE_NEWPID

// run starts j with its stdout on a pipe and returns the output and the
// exit status.
func run(t *testing.T, j Job) (string, syscall.WaitStatus, error) { return capture(t, j, false) }

// runWithStderr is run with the command's stderr on the same pipe.
func runWithStderr(t *testing.T, j Job) (string, syscall.WaitStatus, error) {
	return capture(t, j, true)
}

func capture(t *testing.T, j Job, withStderr bool) (string, syscall.WaitStatus, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	j.Stdout = w
	if withStderr {
		j.Stderr = w
	}
	p, err := Start(j)
	w.Close()
	if err != nil {
		return "", 0, err
	}
	out, _ := io.ReadAll(r)
	ws, err := p.Wait()
	return string(out), ws, err
}

func TestStartJoinsTheNamespacesWithTheJobsSettings(t *testing.T) {
	pid, start := target(t)
	const chown, kill = 0, 5
	caps := uint64(1)<<chown | uint64(1)<<kill
	out, ws, err := run(t, Job{
		InitPid: pid, InitStartTime: start, Namespaces: allNamespaces,
		Cwd:  "/tmp",
		Args: []string{"sh", "-c", `echo "$FOO $(pwd) $$"; readlink /proc/self/ns/uts /proc/self/ns/net; grep -E '^Cap(Eff|Bnd):' /proc/self/status; ls /proc/self/fd; exit 3`},
		Env:  []string{"FOO=bar", "PATH=/usr/bin:/bin"},
		Caps: Caps{Bounding: caps, Effective: caps, Permitted: caps},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !ws.Exited() || ws.ExitStatus() != 3 {
		t.Fatalf("exit status %v, want 3", ws)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 5 {
		t.Fatalf("output: %q", out)
	}
	// The shell is pid 2 of the new pid namespace (sleep is 1).
	if lines[0] != "bar /tmp 2" {
		t.Errorf("environment, directory and pid: %q", lines[0])
	}
	for i, ns := range []string{"uts", "net"} {
		want, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/" + ns)
		if lines[1+i] != want {
			t.Errorf("%s namespace %q, want the target's %q", ns, lines[1+i], want)
		}
	}
	wantMask := "00000000000000" + strconv.FormatUint(caps, 16)
	if lines[3] != "CapEff:\t"+wantMask || lines[4] != "CapBnd:\t"+wantMask {
		t.Errorf("capabilities %q %q, want %s", lines[3], lines[4], wantMask)
	}
	if fds := strings.Join(lines[5:], " "); fds != "0 1 2 3" {
		t.Errorf("descriptors %q, want stdio and ls's own", fds)
	}
}

func TestStartReportsWhatFailed(t *testing.T) {
	pid, start := target(t)
	job := Job{InitPid: pid, InitStartTime: start, Namespaces: allNamespaces, Cwd: "/", Env: []string{"PATH=/usr/bin:/bin"}}

	// A command that cannot be exec'd ends as a shell's would: its message
	// on its own stderr, exit status 127 (missing) or 126 (not executable).
	job.Args = []string{"no-such-command"}
	if out, ws, err := runWithStderr(t, job); err != nil || ws.ExitStatus() != 127 || !strings.Contains(out, "no-such-command") || !strings.Contains(out, "No such file") {
		t.Errorf("missing command: %v, status %d, stderr %q", err, ws.ExitStatus(), out)
	}
	job.Args = []string{"/etc/passwd"}
	if out, ws, err := runWithStderr(t, job); err != nil || ws.ExitStatus() != 126 || !strings.Contains(out, "Permission denied") {
		t.Errorf("command that is not executable: %v, status %d, stderr %q", err, ws.ExitStatus(), out)
	}
	job.Args, job.Cwd = []string{"true"}, "/no/such/dir"
	if _, _, err := run(t, job); err == nil || !strings.Contains(err.Error(), "/no/such/dir") {
		t.Errorf("missing directory: %v", err)
	}
	job.Cwd, job.InitStartTime = "/", start+1
	if _, _, err := run(t, job); !errors.Is(err, ErrInitGone) {
		t.Errorf("another process under the init's pid: %v", err)
	}
}

func TestHeldCommandRunsOnlyWhenReleased(t *testing.T) {
	pid, start := target(t)
	marker := t.TempDir() + "/ran"
	job := Job{InitPid: pid, InitStartTime: start, Namespaces: unix.CLONE_NEWUTS, Cwd: "/", Hold: true,
		Args: []string{"sh", "-c", "touch " + marker + "; exit 7"}, Env: []string{"PATH=/usr/bin:/bin"}}

	p, err := Start(job)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a held command ran before its release")
	}
	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
	if ws, err := p.Wait(); err != nil || ws.ExitStatus() != 7 {
		t.Fatalf("released command: %v %v", ws, err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("the released command did not run")
	}

	os.Remove(marker)
	p, err = Start(job)
	if err != nil {
		t.Fatal(err)
	}
	p.Abandon()
	if ws, err := p.Wait(); err != nil || ws.ExitStatus() == 7 {
		t.Fatalf("abandoned command: %v %v", ws, err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("an abandoned command ran")
	}
	if err := p.Signal(syscall.SIGKILL); !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("signal after wait: %v", err)
	}
}

// BenchmarkStart is exec's spawn: from Start to the command exec'd and
// reaped (`true` in a user, mount, uts, ipc, net and pid namespace).
func BenchmarkStart(b *testing.B) {
	pid, start := target(b)
	job := Job{InitPid: pid, InitStartTime: start, Namespaces: allNamespaces, Cwd: "/", Args: []string{"true"}, Env: []string{"PATH=/usr/bin:/bin"}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := Start(job)
		if err != nil {
			b.Fatal(err)
		}
		if ws, err := p.Wait(); err != nil || ws.ExitStatus() != 0 {
			b.Fatalf("true: %v %v", ws, err)
		}
	}
}
