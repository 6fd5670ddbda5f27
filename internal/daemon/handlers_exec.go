package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/instance"
	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/operation"
)

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func instanceExecPost(d *Daemon, r *http.Request) response {
	name := instanceKey(r)
	var req api.InstanceExecPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if len(req.Command) == 0 {
		return fail(apierr.BadRequest("exec: the command is empty"))
	}
	e, err := d.Instances.Expanded(name)
	if err != nil {
		return fail(err)
	}
	if st, _ := d.Instances.Status(name); st != runtime.StateRunning {
		return fail(apierr.BadRequest("instance %q is not running (it is %s)", name, st))
	}
	spec := runtime.ExecSpec{Args: req.Command, UID: int(req.User), GID: int(req.Group), Cwd: req.Cwd}
	env := map[string]string{"PATH": defaultPath, "LANG": "C.UTF-8"}
	if req.User == 0 {
		env["HOME"], env["USER"] = "/root", "root"
	}
	for k, v := range e.Config {
		if key, ok := cutPrefix(k, "environment."); ok {
			env[key] = v
		}
	}
	for k, v := range req.Environment {
		env[k] = v
	}
	if spec.Cwd == "" {
		spec.Cwd = env["HOME"]
		if spec.Cwd == "" {
			spec.Cwd = "/"
		}
	}
	for k, v := range env {
		spec.Env = append(spec.Env, k+"="+v)
	}
	sort.Strings(spec.Env)

	if !req.WaitForWS {
		op := d.Ops.Start("Executing command", resources(name), nil, func(ctx context.Context, op *operation.Op) error {
			return execDetached(ctx, d, name, op, spec, req.RecordOutput)
		})
		return asyncResp{op}
	}

	fds := []string{"0", "control"}
	if !req.Interactive {
		fds = []string{"0", "1", "2", "control"}
	}
	// The control socket is optional: pylxd never opens it.
	set, fdMeta := newWSSet(fds, "control")
	sess := &execSession{wsSet: set, instances: d.Instances, name: name, spec: spec, req: req}
	op := d.Ops.StartWebsocket("Executing command", resources(name), map[string]any{"fds": fdMeta})
	op.Connect = sess.connect
	sess.op = op
	op.Run(sess.run)
	return asyncResp{op}
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) > len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return "", false
}

func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// execDetached runs a command with no websockets (wait-for-websocket false);
// its output goes to log files when record-output is set.
func execDetached(ctx context.Context, d *Daemon, name string, op *operation.Op, spec runtime.ExecSpec, record bool) error {
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	spec.Stdin, spec.Stdout, spec.Stderr = devnull, devnull, devnull
	output := map[string]string{}
	if record {
		for fd, suffix := range map[string]string{"1": "stdout", "2": "stderr"} {
			file := fmt.Sprintf("exec_%s.%s", op.ID(), suffix)
			if err := os.MkdirAll(d.Instances.LogDir(name), 0o700); err != nil {
				return err
			}
			f, err := os.Create(filepath.Join(d.Instances.LogDir(name), file))
			if err != nil {
				return err
			}
			defer f.Close()
			if fd == "1" {
				spec.Stdout = f
			} else {
				spec.Stderr = f
			}
			output[fd] = instanceURL(name) + "/logs/" + file
		}
	}
	proc, err := d.Instances.Exec(ctx, name, spec)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = proc.Signal(syscall.SIGKILL) })
	defer stop()
	code := proc.Wait()
	md := map[string]any{"return": code}
	if record {
		md["output"] = output
	}
	op.SetMetadata(md)
	return nil
}

// execSession is an exec driven over websockets.
type execSession struct {
	*wsSet
	instances *instance.Service
	op        *operation.Op
	name      string
	spec      runtime.ExecSpec
	req       api.InstanceExecPost
}

// run readies the command while the client connects its websockets, runs
// it once they are all there, and reports its exit code.
func (s *execSession) run(ctx context.Context) error {
	defer s.closeAll() // also the websockets of an exec that failed early
	cmd, err := s.prepare(ctx)
	if err != nil {
		return err
	}
	if err := s.wait(ctx, "exec"); err != nil {
		cmd.abandon()
		return err
	}
	if err := cmd.proc.Release(); err != nil {
		cmd.abandon()
		return err
	}
	var code int
	if s.req.Interactive {
		code = s.runPty(ctx, cmd.proc)
	} else {
		code = s.runPipes(ctx, cmd)
	}
	s.op.SetMetadata(map[string]any{"return": code})
	return nil
}

// preparedExec is a held command and lodged's ends of its pipes.
type preparedExec struct {
	proc           runtime.Proc
	stdin          *os.File // written by lodged
	stdout, stderr *os.File // read by lodged
}

// abandon ends a command that will not run.
func (c *preparedExec) abandon() {
	c.proc.Abandon()
	c.proc.Wait()
	closeFiles(c.proc.PTY(), c.stdin, c.stdout, c.stderr)
}

func closeFiles(files ...*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}

func (s *execSession) prepare(ctx context.Context) (*preparedExec, error) {
	spec := s.spec
	spec.Hold = true
	if s.req.Interactive {
		spec.TTY = true
		spec.Width, spec.Height = uint16(max(s.req.Width, 0)), uint16(max(s.req.Height, 0))
		proc, err := s.instances.Exec(ctx, s.name, spec)
		if err != nil {
			return nil, err
		}
		return &preparedExec{proc: proc}, nil
	}
	// The command's ends of its stdio pipes, and lodged's.
	var theirs, mine [3]*os.File
	ready := false
	defer func() {
		closeFiles(theirs[:]...) // the command has them now, or never will
		if !ready {
			closeFiles(mine[:]...)
		}
	}()
	for i := range 3 {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		if i == 0 {
			theirs[i], mine[i] = r, w
		} else {
			theirs[i], mine[i] = w, r
		}
	}
	spec.Stdin, spec.Stdout, spec.Stderr = theirs[0], theirs[1], theirs[2]
	proc, err := s.instances.Exec(ctx, s.name, spec)
	if err != nil {
		return nil, err
	}
	ready = true
	return &preparedExec{proc: proc, stdin: mine[0], stdout: mine[1], stderr: mine[2]}, nil
}

// control reads window-resize and signal messages.
func (s *execSession) control(proc runtime.Proc) {
	s.readLoop("control", func(_ int, data []byte) bool {
		var msg api.InstanceExecControl
		if json.Unmarshal(data, &msg) != nil {
			return true
		}
		switch msg.Command {
		case "window-resize":
			w, _ := strconv.Atoi(msg.Args["width"])
			h, _ := strconv.Atoi(msg.Args["height"])
			if w > 0 && h > 0 {
				_ = proc.Resize(uint16(w), uint16(h))
			}
		case "signal":
			if msg.Signal > 0 && msg.Signal < 65 {
				_ = proc.Signal(syscall.Signal(msg.Signal))
			}
		}
		return true
	})
}

func (s *execSession) runPty(ctx context.Context, proc runtime.Proc) int {
	defer proc.PTY().Close()
	go s.control(proc)
	stop := context.AfterFunc(ctx, func() { _ = proc.Signal(syscall.SIGKILL) })
	defer stop()
	ws := s.conn("0")
	out := make(chan struct{})
	go func() { // pty -> client
		defer close(out)
		pump(proc.PTY(), ws)
	}()
	go s.readLoop("0", func(_ int, data []byte) bool { // client -> pty
		_, err := proc.PTY().Write(data)
		return err == nil
	})
	code := proc.Wait()
	drain(out)
	return code
}

func (s *execSession) runPipes(ctx context.Context, cmd *preparedExec) int {
	proc := cmd.proc
	go s.control(proc)
	stop := context.AfterFunc(ctx, func() { _ = proc.Signal(syscall.SIGKILL) })
	defer stop()
	go func() { // client -> stdin; a text frame or a close is EOF
		defer cmd.stdin.Close()
		s.readLoop("0", func(mt int, data []byte) bool {
			if mt != websocket.BinaryMessage {
				return false
			}
			_, err := cmd.stdin.Write(data)
			return err == nil
		})
	}()
	outDone, errDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(outDone); pump(cmd.stdout, s.conn("1")); cmd.stdout.Close() }()
	go func() { defer close(errDone); pump(cmd.stderr, s.conn("2")); cmd.stderr.Close() }()
	code := proc.Wait()
	drain(outDone)
	drain(errDone)
	return code
}

// pump copies r to the websocket as binary frames and marks the end with
// an empty text frame, which LXD clients read as EOF.
func pump(r io.Reader, ws *websocket.Conn) {
	buf := make([]byte, 32*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if werr := ws.WriteMessage(websocket.BinaryMessage, buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			break
		}
	}
	_ = ws.WriteMessage(websocket.TextMessage, []byte{})
}

// drain waits for an output pump to finish after the command exited. A
// daemon the command left behind may hold the output open: stop waiting then.
func drain(done chan struct{}) {
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
}
