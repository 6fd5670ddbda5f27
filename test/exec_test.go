package test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/client"
)

func TestExecPipes(t *testing.T) {
	d := withBusybox(t)
	name := uniq("exec")
	d.MustLodge("launch", "busybox", name, "-c", "environment.FROM_CONFIG=yes")

	out, _, err := d.LodgeIn("hello from stdin\n", "exec", name, "--", "cat")
	if err != nil || out != "hello from stdin\n" {
		t.Fatalf("stdin round trip: %q %v", out, err)
	}
	out, errOut, err := d.Lodge("exec", name, "--", "sh", "-c", "echo out; echo err >&2; exit 7")
	if out != "out\n" || errOut != "err\n" {
		t.Fatalf("stdout %q stderr %q", out, errOut)
	}
	if ee, ok := err.(interface{ ExitCode() int }); !ok || ee.ExitCode() != 7 {
		t.Fatalf("exit code: %v", err)
	}
	out = d.MustLodge("exec", name, "--env", "FOO=bar", "--cwd", "/tmp", "--user", "1000", "--group", "1000", "--",
		"sh", "-c", "echo $FOO $FROM_CONFIG $(pwd) $(id -u) $(id -g)")
	if strings.TrimSpace(out) != "bar yes /tmp 1000 1000" {
		t.Fatalf("env/cwd/user: %q", out)
	}
	// The command is the container's: its init's cgroups (the container's
	// cgroup namespace root), bounding set and seccomp filter. Root keeps
	// the container's capabilities; another user has none, as after a login.
	out = d.MustLodge("exec", name, "--", "sh", "-c",
		"cat /proc/self/cgroup | cut -d: -f3 | sort -u; grep -E '^(CapBnd|CapEff|Seccomp):' /proc/self/status; grep -E '^(CapBnd|CapEff|Seccomp):' /proc/1/status")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 7 || lines[0] != "/" || lines[1] != lines[4] || lines[2] != lines[5] || lines[3] != lines[6] || lines[3] != "Seccomp:\t2" {
		t.Fatalf("root exec's cgroups, capabilities and seccomp differ from init's:\n%s", out)
	}
	out = d.MustLodge("exec", name, "--user", "1000", "--", "grep", "-E", "^Cap(Eff|Prm|Amb):", "/proc/self/status")
	if strings.Count(out, "0000000000000000") != 3 {
		t.Fatalf("a non-root exec kept capabilities:\n%s", out)
	}
	// Only stdio reaches the command: no descriptor of lodged's.
	out = d.MustLodge("exec", name, "--", "ls", "/proc/self/fd")
	if strings.Join(strings.Fields(out), " ") != "0 1 2 3" { // 3: ls's own directory
		t.Fatalf("descriptors leaked into the command: %q", out)
	}
	// A command that cannot run: LXD's exec succeeds with return 127 (no
	// such command) or 126 (not executable), and so do lodge and lxc.
	_, errOut, err = d.Lodge("exec", name, "--", "no-such-command")
	if exitCode(err) != 127 || !strings.Contains(errOut, "no-such-command") || !strings.Contains(errOut, "No such file") {
		t.Fatalf("missing command: %v %q (want exit status 127)", err, errOut)
	}
	if _, _, err := d.LXC("exec", name, "--", "/etc/passwd"); exitCode(err) != 126 {
		t.Fatalf("lxc exec of a file that is not executable: %v (want exit status 126)", err)
	}
	if _, _, err := d.LXC("exec", name, "--", "no-such-command"); exitCode(err) != 127 {
		t.Fatalf("lxc exec of a missing command: %v (want exit status 127)", err)
	}
	_, errOut, err = d.Lodge("exec", name, "--cwd", "/no/such/dir", "--", "true")
	if err == nil || !strings.Contains(errOut, "/no/such/dir") {
		t.Fatalf("missing working directory: %v %q", err, errOut)
	}
	// A large output arrives whole.
	out = d.MustLodge("exec", name, "--", "sh", "-c", "head -c 300000 /dev/zero | tr '\\0' x")
	if len(out) != 300000 {
		t.Fatalf("large output: %d bytes", len(out))
	}
}

// TestExecPty drives the websocket protocol as an interactive client does:
// a pty, window-resize, and a signal.
func TestExecPty(t *testing.T) {
	d := withBusybox(t)
	name := uniq("pty")
	d.MustLodge("launch", "busybox", name)
	c := client.New(filepath.Join(d.Dir, "unix.socket"))

	resp, _, err := c.Query("POST", "/1.0/instances/"+name+"/exec", api.InstanceExecPost{
		Command: []string{"sh"}, WaitForWS: true, Interactive: true, Width: 100, Height: 30,
		Environment: map[string]string{"TERM": "xterm"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	var op api.Operation
	_ = json.Unmarshal(resp.Metadata, &op)
	fds := op.Metadata["fds"].(map[string]any)
	if len(fds) != 2 {
		t.Fatalf("interactive exec fds: %v", fds)
	}
	ctl, err := c.OperationWebsocket(resp.Operation, fds["control"].(string))
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	tty, err := c.OperationWebsocket(resp.Operation, fds["0"].(string))
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	output := make(chan string, 100)
	go func() {
		for {
			mt, data, err := tty.ReadMessage()
			if err != nil || mt == websocket.TextMessage {
				close(output)
				return
			}
			output <- string(data)
		}
	}()
	var seen strings.Builder
	expect := func(want string) {
		t.Helper()
		for !strings.Contains(seen.String(), want) {
			s, ok := <-output
			if !ok {
				t.Fatalf("stream ended before %q; got %q", want, seen.String())
			}
			seen.WriteString(s)
		}
	}
	send := func(s string) {
		if err := tty.WriteMessage(websocket.BinaryMessage, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	send("tty; stty size; echo marker-$((6*7))\n")
	expect("marker-42")
	if !strings.Contains(seen.String(), "/dev/pts/") || !strings.Contains(seen.String(), "30 100") {
		t.Fatalf("pty session: %q", seen.String())
	}
	// The pty is the container's own, the user's and devpts' tty group's.
	send("ls -ln $(tty); echo marker-$((5*5))\n")
	expect("marker-25")
	if !strings.Contains(seen.String(), "crw--w----    1 0        5 ") {
		t.Fatalf("pty owner: %q", seen.String())
	}
	_ = ctl.WriteJSON(api.InstanceExecControl{Command: "window-resize", Args: map[string]string{"width": "132", "height": "43"}})
	send("stty size; echo marker-$((7*7))\n")
	expect("marker-49")
	if !strings.Contains(seen.String(), "43 132") {
		t.Fatalf("window-resize not applied: %q", seen.String())
	}
	// SIGTERM through the control socket ends the shell's foreground job.
	send("exec sleep 100\n")
	_ = ctl.WriteJSON(api.InstanceExecControl{Command: "signal", Signal: 9})
	done, err := c.Wait(resp.Operation)
	if err != nil {
		t.Fatal(err)
	}
	if code := done.Metadata["return"].(float64); code != 137 {
		t.Fatalf("exit code after SIGKILL: %v", code)
	}
}

// TestExecWaitsForItsClient: a command runs only once every websocket
// is connected (lodged readies it meanwhile), and never if the client
// goes away first.
func TestExecWaitsForItsClient(t *testing.T) {
	d := withBusybox(t)
	name := uniq("wait")
	d.MustLodge("launch", "busybox", name)
	c := client.New(filepath.Join(d.Dir, "unix.socket"))
	start := func(marker string) (string, map[string]any) {
		resp, _, err := c.Query("POST", "/1.0/instances/"+name+"/exec", api.InstanceExecPost{
			Command: []string{"touch", "/tmp/" + marker}, WaitForWS: true}, "")
		if err != nil {
			t.Fatal(err)
		}
		var op api.Operation
		_ = json.Unmarshal(resp.Metadata, &op)
		return resp.Operation, op.Metadata["fds"].(map[string]any)
	}
	ran := func(marker string) bool {
		_, _, err := d.Lodge("exec", name, "--", "test", "-e", "/tmp/"+marker)
		return err == nil
	}

	opURL, fds := start("connected")
	var conns []*websocket.Conn
	for _, fd := range []string{"0", "1", "2"} {
		if ran("connected") {
			t.Fatalf("the command ran before websocket %s was connected", fd)
		}
		ws, err := c.OperationWebsocket(opURL, fds[fd].(string))
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		conns = append(conns, ws)
	}
	_ = conns[0].WriteMessage(websocket.TextMessage, nil) // stdin EOF
	done, err := c.Wait(opURL)
	if err != nil || done.Metadata["return"].(float64) != 0 || !ran("connected") {
		t.Fatalf("exec with its websockets: %v %v", done, err)
	}
	// A client may close its websockets only once it has seen the
	// operation end (pylxd does): the connections are still there for it.
	for i, ws := range conns {
		msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "")
		if err := ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)); err != nil {
			t.Fatalf("close frame on websocket %d after the exec ended: %v", i, err)
		}
	}

	opURL, _ = start("abandoned")
	if st, env := d.API("DELETE", opURL, nil); st != 200 {
		t.Fatalf("cancel exec: %d %s", st, env.Error)
	}
	if _, err := c.Wait(opURL); err == nil {
		t.Fatal("a cancelled exec succeeded")
	}
	if ran("abandoned") {
		t.Fatal("a cancelled exec ran its command")
	}
	out := d.MustLodge("exec", name, "--", "ps", "-o", "args")
	if strings.Contains(out, "lodge-attach") || strings.Contains(out, "abandoned") {
		t.Fatalf("an abandoned command is left in the container:\n%s", out)
	}
}

func TestExecRecordOutput(t *testing.T) {
	d := withBusybox(t)
	name := uniq("rec")
	d.MustLodge("launch", "busybox", name)
	st, env := d.API("POST", "/1.0/instances/"+name+"/exec", api.InstanceExecPost{
		Command: []string{"sh", "-c", "echo recorded; echo oops >&2; exit 3"}, RecordOutput: true})
	if st != 202 {
		t.Fatalf("exec: %d %s", st, env.Error)
	}
	var op api.Operation
	_ = json.Unmarshal(env.Metadata, &op)
	if op.Metadata["return"].(float64) != 3 {
		t.Fatalf("return: %v", op.Metadata)
	}
	outputs := op.Metadata["output"].(map[string]any)
	stdoutURL := outputs["1"].(string)
	data, err := os.ReadFile(filepath.Join(d.Dir, "logs", name, filepath.Base(stdoutURL)))
	if err != nil || string(data) != "recorded\n" {
		t.Fatalf("recorded stdout: %q %v", data, err)
	}
	_, logs := d.API("GET", "/1.0/instances/"+name+"/logs", nil)
	if !strings.Contains(string(logs.Metadata), filepath.Base(stdoutURL)) {
		t.Fatalf("logs list: %s", logs.Metadata)
	}
}

// exitCode is a command's exit status from its error (0 for none, -1 when
// it did not run or exit).
func exitCode(err error) int {
	var exitErr *exec.ExitError
	if err == nil {
		return 0
	}
	if errors.As(err, &exitErr) {
		return exitErr.ExitCode()
	}
	return -1
}
