package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/gorilla/websocket"
	"github.com/spf13/cobra"

	"github.com/lodge-project/lodge/api"
)

func cmdConsole() *cobra.Command {
	var showLog bool
	cmd := &cobra.Command{
		Use:   "console NAME",
		Short: "Attach to an instance's console (ctrl+a q detaches)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := connect()
			name := args[0]
			if showLog {
				return copyRaw(c, cmd.OutOrStdout(), instancePath(name)+"/console")
			}
			w, h := termSize()
			resp, _, err := c.Query("POST", instancePath(name)+"/console", map[string]any{"width": w, "height": h, "type": "console"}, "")
			if err != nil {
				return err
			}
			var op api.Operation
			if err := json.Unmarshal(resp.Metadata, &op); err != nil {
				return err
			}
			fds, _ := op.Metadata["fds"].(map[string]any)
			ctl, err := c.OperationWebsocket(resp.Operation, fmt.Sprint(fds["control"]))
			if err != nil {
				return err
			}
			defer ctl.Close()
			term, err := c.OperationWebsocket(resp.Operation, fmt.Sprint(fds["0"]))
			if err != nil {
				return err
			}
			defer term.Close()
			fmt.Fprintf(cmd.ErrOrStderr(), "To detach from the console, press: <ctrl>+a q\r\n")
			if restore, err := makeRaw(os.Stdin); err == nil {
				defer restore()
			}
			winch := make(chan os.Signal, 1)
			signal.Notify(winch, syscall.SIGWINCH)
			defer signal.Stop(winch)
			go func() {
				for range winch {
					w, h := termSize()
					_ = ctl.WriteJSON(api.InstanceExecControl{Command: "window-resize", Args: map[string]string{"width": strconv.Itoa(w), "height": strconv.Itoa(h)}})
				}
			}()
			done := make(chan struct{})
			go func() {
				defer close(done)
				recvStream(term, os.Stdout)
			}()
			go func() {
				buf := make([]byte, 1024)
				prefix := false
				for {
					n, err := os.Stdin.Read(buf)
					if err != nil {
						term.Close()
						return
					}
					for _, b := range buf[:n] {
						if prefix && b == 'q' {
							_ = term.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), timeNowPlusSecond())
							term.Close()
							return
						}
						prefix = b == 0x01 // ctrl+a
					}
					if err := term.WriteMessage(websocket.BinaryMessage, buf[:n]); err != nil {
						return
					}
				}
			}()
			<-done
			return nil
		},
	}
	cmd.Flags().BoolVar(&showLog, "show-log", false, "print the console log instead of attaching")
	return cmd
}
