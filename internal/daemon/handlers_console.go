package daemon

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strconv"

	"github.com/gorilla/websocket"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/console"
	"github.com/lodge-project/lodge/internal/instance/runtime"
)

// instanceConsoleGet returns the console log (lxc console --show-log).
func instanceConsoleGet(d *Daemon, r *http.Request) response {
	name := instanceKey(r)
	if _, _, err := d.Instances.Get(name); err != nil {
		return fail(err)
	}
	if st, _ := d.Instances.Status(name); st != runtime.StateRunning {
		return fail(apierr.BadRequest("instance %q is not running", name))
	}
	data, err := os.ReadFile(console.LogPath(d.Instances.LogDir(name)))
	if err != nil && !os.IsNotExist(err) {
		return fail(err)
	}
	return rawResp(func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(data)
	})
}

// instanceConsoleDelete empties the console log.
func instanceConsoleDelete(d *Daemon, r *http.Request) response {
	name := instanceKey(r)
	if _, _, err := d.Instances.Get(name); err != nil {
		return fail(err)
	}
	if err := os.Truncate(console.LogPath(d.Instances.LogDir(name)), 0); err != nil && !os.IsNotExist(err) {
		return fail(err)
	}
	return empty()
}

// instanceConsolePost attaches to the console: websockets "0" (the
// terminal) and "control" (window-resize), bridged to the console keeper.
func instanceConsolePost(d *Daemon, r *http.Request) response {
	name := instanceKey(r)
	var req struct {
		Width  int    `json:"width"`
		Height int    `json:"height"`
		Type   string `json:"type"`
	}
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if req.Type != "" && req.Type != "console" {
		return fail(apierr.BadRequest("console type %q is not supported (console)", req.Type))
	}
	if _, _, err := d.Instances.Get(name); err != nil {
		return fail(err)
	}
	set, fds := newWSSet([]string{"0", "control"})
	sess := &consoleSession{wsSet: set}
	op := d.Ops.StartWebsocket("Showing console", resources(name), map[string]any{"fds": fds})
	op.Connect = sess.connect
	op.Run(func(ctx context.Context) error {
		if err := sess.wait(ctx, "console"); err != nil {
			return err
		}
		return sess.run(ctx, d, name, req.Width, req.Height)
	})
	return asyncResp{op}
}

type consoleSession struct {
	*wsSet
}

func (s *consoleSession) run(ctx context.Context, d *Daemon, name string, width, height int) error {
	term, ctl := s.conns["0"], s.conns["control"]
	defer term.Close()
	defer ctl.Close()
	pty, err := d.Instances.Console(name)
	if err != nil {
		return err
	}
	defer pty.Close()
	resize := func(w, h int) {
		if w > 0 && h > 0 {
			_ = d.Instances.ResizeConsole(name, uint16(w), uint16(h))
		}
	}
	resize(width, height)
	go func() { // control: window-resize
		for {
			_, data, err := ctl.ReadMessage()
			if err != nil {
				pty.Close()
				return
			}
			var msg api.InstanceExecControl
			if json.Unmarshal(data, &msg) == nil && msg.Command == "window-resize" {
				w, _ := strconv.Atoi(msg.Args["width"])
				h, _ := strconv.Atoi(msg.Args["height"])
				resize(w, h)
			}
		}
	}()
	go func() { // client -> console
		for {
			mt, data, err := term.ReadMessage()
			if err != nil || mt == websocket.CloseMessage {
				pty.Close()
				return
			}
			if _, err := pty.Write(data); err != nil {
				return
			}
		}
	}()
	stop := context.AfterFunc(ctx, func() { pty.Close() })
	defer stop()
	buf := make([]byte, 32*1024)
	for { // console -> client, until either side goes
		n, err := pty.Read(buf)
		if n > 0 {
			if werr := term.WriteMessage(websocket.BinaryMessage, buf[:n]); werr != nil {
				return nil
			}
		}
		if err != nil {
			return nil
		}
	}
}
