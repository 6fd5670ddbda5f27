package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/client"
)

func copyRaw(c *client.Client, w io.Writer, path string) error {
	body, err := c.GetRaw(path)
	if err != nil {
		return err
	}
	defer body.Close()
	_, err = io.Copy(w, body)
	return err
}

func cmdExec() *cobra.Command {
	var env []string
	var forceTTY, noTTY bool
	var cwd string
	var uid, gid uint32
	cmd := &cobra.Command{
		Use:   "exec NAME [--] COMMAND...",
		Short: "Run a command in an instance",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			envMap, err := parseKeyValues(env)
			if err != nil {
				return err
			}
			interactive := isTerminal(os.Stdin) && isTerminal(os.Stdout)
			if forceTTY {
				interactive = true
			}
			if noTTY {
				interactive = false
			}
			if interactive {
				if t := os.Getenv("TERM"); t != "" {
					envMap["TERM"] = t
				}
			}
			req := api.InstanceExecPost{Command: args[1:], WaitForWS: true, Interactive: interactive, Environment: envMap,
				User: uid, Group: gid, Cwd: cwd}
			if interactive {
				req.Width, req.Height = termSize()
			}
			code, err := runExec(connect(), args[0], req)
			if err != nil {
				return err
			}
			if code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&env, "env", nil, "environment variable to set (KEY=VALUE)")
	cmd.Flags().BoolVarP(&forceTTY, "force-interactive", "t", false, "give the command a pty even if lodge's input is not a terminal")
	cmd.Flags().BoolVarP(&noTTY, "force-noninteractive", "T", false, "run without a pty")
	cmd.Flags().StringVar(&cwd, "cwd", "", "directory to run the command in")
	cmd.Flags().Uint32Var(&uid, "user", 0, "user id to run the command as")
	cmd.Flags().Uint32Var(&gid, "group", 0, "group id to run the command as")
	return cmd
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func termSize() (int, int) {
	ws, err := unix.IoctlGetWinsize(int(os.Stdout.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 80, 24
	}
	return int(ws.Col), int(ws.Row)
}

// runExec drives LXD's exec protocol: one websocket per stream plus control.
func runExec(c *client.Client, name string, req api.InstanceExecPost) (int, error) {
	resp, _, err := c.Query("POST", instancePath(name)+"/exec", req, "")
	if err != nil {
		return -1, err
	}
	var op api.Operation
	if err := json.Unmarshal(resp.Metadata, &op); err != nil {
		return -1, err
	}
	fds, _ := op.Metadata["fds"].(map[string]any)
	conns := map[string]*websocket.Conn{}
	for _, fd := range []string{"control", "0", "1", "2"} {
		secret, ok := fds[fd].(string)
		if !ok {
			continue
		}
		conn, err := c.OperationWebsocket(resp.Operation, secret)
		if err != nil {
			return -1, fmt.Errorf("exec: connect %s stream: %w", fd, err)
		}
		defer conn.Close()
		conns[fd] = conn
	}
	control := conns["control"]
	var ctlMu sync.Mutex
	sendControl := func(msg api.InstanceExecControl) {
		ctlMu.Lock()
		defer ctlMu.Unlock()
		_ = control.WriteJSON(msg)
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGWINCH, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	go func() {
		for s := range sigs {
			if s == syscall.SIGWINCH {
				w, h := termSize()
				sendControl(api.InstanceExecControl{Command: "window-resize", Args: map[string]string{"width": strconv.Itoa(w), "height": strconv.Itoa(h)}})
				continue
			}
			if req.Interactive && s == syscall.SIGINT {
				continue // the pty delivers ^C itself
			}
			sendControl(api.InstanceExecControl{Command: "signal", Signal: int(s.(syscall.Signal))})
		}
	}()

	var wg sync.WaitGroup
	if req.Interactive {
		if restore, err := makeRaw(os.Stdin); err == nil {
			defer restore()
		}
		wg.Add(1)
		go func() { defer wg.Done(); recvStream(conns["0"], os.Stdout) }()
		go sendStream(conns["0"], os.Stdin)
	} else {
		wg.Add(2)
		go func() { defer wg.Done(); recvStream(conns["1"], os.Stdout) }()
		go func() { defer wg.Done(); recvStream(conns["2"], os.Stderr) }()
		go sendStream(conns["0"], os.Stdin)
	}
	done, err := c.Wait(resp.Operation)
	if err != nil {
		return -1, err
	}
	wg.Wait()
	code, _ := done.Metadata["return"].(float64)
	return int(code), nil
}

// recvStream copies binary frames to w until an empty text frame or close.
func recvStream(conn *websocket.Conn, w io.Writer) {
	for {
		mt, data, err := conn.ReadMessage()
		if err != nil || mt == websocket.TextMessage {
			return
		}
		if _, err := w.Write(data); err != nil {
			return
		}
	}
}

// sendStream copies r as binary frames and marks EOF with an empty text frame.
func sendStream(conn *websocket.Conn, r io.Reader) {
	buf := make([]byte, 32*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if werr := conn.WriteMessage(websocket.BinaryMessage, buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			_ = conn.WriteMessage(websocket.TextMessage, []byte{})
			return
		}
	}
}

// makeRaw puts a terminal in raw mode and returns the undo.
func makeRaw(f *os.File) (func(), error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, err
	}
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}

func timeNowPlusSecond() time.Time { return time.Now().Add(time.Second) }
