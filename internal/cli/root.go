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
		Use:               "lodge",
		Short:             "Lodge: system containers, managed like LXD's",
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: pickRemote,
	}
	root.PersistentFlags().StringVar(&projectFlag, "project", "", "the project to act in (else the remote's current one: lodge project switch)")
	root.AddCommand(
		cmdLaunch(), cmdInit(), cmdStart(), cmdStop(), cmdRestart(), cmdPause(), cmdResume(), cmdDelete(),
		cmdList(), cmdInfo(), cmdExec(), cmdImage(), cmdConfig(), cmdOperation(), cmdMonitor(), cmdVersion(),
		cmdSnapshot(), cmdRestore(), cmdCopy(), cmdMove(), cmdFile(), cmdProfile(), cmdConsole(), cmdNetwork(), cmdStorage(), cmdExport(), cmdImport(),
		cmdRemote(), cmdPublish(), cmdCheck(), cmdWarning(), cmdProject(),
	)
	return root
}

// target is the client of the remote the command's arguments named, set
// before the command runs.
var target *client.Client

// projectFlag is --project.
var projectFlag string

// connect is the client of the remote the command acts on: the one its
// arguments name (remote:name), else the default remote.
func connect() *client.Client {
	if target != nil {
		return target
	}
	cl := localClient()
	cl.Project = projectFlag
	return cl
}

// pickRemote takes the remote out of the command's arguments, in place,
// before the command runs: "b:c1" becomes "c1", acted on at remote b.
// Arguments may name one remote only; the commands that take two (copy,
// image copy, launch, publish) pick their own and are marked so.
func pickRemote(cmd *cobra.Command, args []string) error {
	if cmd.Annotations[ownRemotes] != "" || cmd.Name() == "remote" || (cmd.Parent() != nil && cmd.Parent().Name() == "remote") {
		return nil
	}
	return pickOneRemote(cmd, args)
}

// pickOneRemote is pickRemote for any command: one that reads its own
// remotes calls it for the arguments that name only one.
func pickOneRemote(cmd *cobra.Command, args []string) error {
	cfg, err := loadRemotes()
	if err != nil {
		return err
	}
	picked := ""
	for i, a := range args {
		name, rest, ok := cfg.splitRemote(a)
		if !ok {
			if i == 0 && strings.HasSuffix(a, ":") && remoteNameRE.MatchString(strings.TrimSuffix(a, ":")) {
				return fmt.Errorf("remote %q does not exist (lodge remote list shows them)", strings.TrimSuffix(a, ":"))
			}
			continue
		}
		if picked != "" && name != picked {
			return fmt.Errorf("lodge %s acts on one remote: %s and %s are named", cmd.Name(), picked, name)
		}
		picked, args[i] = name, rest
	}
	target, err = cfg.connectTo(picked)
	return err
}

// ownRemotes marks a command that reads remotes from its arguments itself.
const ownRemotes = "lodge/own-remotes"

// withoutEmpty drops the arguments a bare "remote:" left empty.
func withoutEmpty(args []string) []string {
	out := args[:0:0]
	for _, a := range args {
		if a != "" {
			out = append(out, a)
		}
	}
	return out
}

// localClient finds lodged's socket: $LODGE_SOCKET, else $LODGE_DIR/unix.socket.
func localClient() *client.Client {
	if s := os.Getenv("LODGE_SOCKET"); s != "" {
		return client.New(s)
	}
	return client.New(filepath.Join(lodgeDir(), "unix.socket"))
}

// lodgeDir is lodged's state directory: $LODGE_DIR, else /var/lib/lodge.
func lodgeDir() string {
	if dir := os.Getenv("LODGE_DIR"); dir != "" {
		return dir
	}
	return "/var/lib/lodge"
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
