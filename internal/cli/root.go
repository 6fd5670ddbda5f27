// Package cli is the lodge command line, with the grammar of LXD's lxc.
package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lodge-project/lodge/client"
)

// Execute runs the lodge command line and returns the process exit code.
func Execute(args []string, stdout, stderr io.Writer) int {
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ex exitCode
	if errors.As(err, &ex) {
		return int(ex)
	}
	fmt.Fprintln(stderr, "Error:", err)
	return 1
}

// exitCode ends lodge with a given status and no message (lodge exec).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "lodge",
		Short:         "Lodge: system containers, managed like LXD's",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		cmdLaunch(), cmdInit(), cmdStart(), cmdStop(), cmdRestart(), cmdPause(), cmdResume(), cmdDelete(),
		cmdList(), cmdInfo(), cmdExec(), cmdImage(), cmdConfig(), cmdOperation(), cmdMonitor(), cmdVersion(),
		cmdSnapshot(), cmdRestore(), cmdCopy(), cmdMove(), cmdFile(), cmdProfile(), cmdConsole(), cmdNetwork(), cmdStorage(), cmdExport(), cmdImport(),
	)
	return root
}

// connect finds lodged's socket: $LODGE_SOCKET, else $LODGE_DIR/unix.socket.
func connect() *client.Client {
	if s := os.Getenv("LODGE_SOCKET"); s != "" {
		return client.New(s)
	}
	dir := os.Getenv("LODGE_DIR")
	if dir == "" {
		dir = "/var/lib/lodge"
	}
	return client.New(filepath.Join(dir, "unix.socket"))
}

func instancePath(name string) string { return "/1.0/instances/" + name }

// parseKeyValues reads KEY=VALUE arguments.
func parseKeyValues(args []string) (map[string]string, error) {
	out := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not KEY=VALUE", a)
		}
		out[k] = v
	}
	return out, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
