package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lodge-project/lodge/api"
)

// cmdWarning is `lodge warning`, as `lxc warning`: the host's warnings.
func cmdWarning() *cobra.Command {
	cmd := &cobra.Command{Use: "warning", Short: "List, show, acknowledge and delete the host's warnings"}
	var all bool
	list := &cobra.Command{
		Use: "list", Short: "List the warnings (resolved ones with --all)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ws, err := listWarnings()
			if err != nil {
				return err
			}
			var rows [][]string
			for _, w := range ws {
				if w.Status == api.WarningStatusResolved && !all {
					continue
				}
				rows = append(rows, []string{w.UUID, w.Type, strings.ToUpper(w.Status), strings.ToUpper(w.Severity), fmt.Sprint(w.Count),
					w.Project, w.EntityURL, w.LastSeenAt.Local().Format("Jan 2, 2006 at 3:04pm (MST)")})
			}
			renderTable(cmd.OutOrStdout(), []string{"UUID", "TYPE", "STATUS", "SEVERITY", "COUNT", "PROJECT", "ENTITY", "LAST SEEN"}, rows)
			return nil
		},
	}
	list.Flags().BoolVarP(&all, "all", "a", false, "list resolved warnings too")
	show := &cobra.Command{
		Use: "show UUID", Short: "Show a warning (a unique prefix of its UUID will do)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w, err := findWarning(args[0])
			if err != nil {
				return err
			}
			return yamlOut(cmd, w)
		},
	}
	ack := &cobra.Command{
		Use: "ack UUID", Aliases: []string{"acknowledge"}, Short: "Acknowledge a warning: it stays listed, and a new sighting does not make it new", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w, err := findWarning(args[0])
			if err != nil {
				return err
			}
			_, err = connect().Do("PUT", "/1.0/warnings/"+w.UUID, api.WarningPut{Status: api.WarningStatusAcknowledged}, "")
			return err
		},
	}
	del := &cobra.Command{
		Use: "delete UUID", Aliases: []string{"rm"}, Short: "Delete a warning (it comes back if its cause is still there)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w, err := findWarning(args[0])
			if err != nil {
				return err
			}
			_, err = connect().Do("DELETE", "/1.0/warnings/"+w.UUID, nil, "")
			return err
		},
	}
	cmd.AddCommand(list, show, ack, del)
	return cmd
}

func listWarnings() ([]api.Warning, error) {
	var ws []api.Warning
	_, err := connect().Get("/1.0/warnings?recursion=1", &ws)
	return ws, err
}

// findWarning is the warning whose UUID starts with prefix, alone.
func findWarning(prefix string) (api.Warning, error) {
	ws, err := listWarnings()
	if err != nil {
		return api.Warning{}, err
	}
	var found []api.Warning
	for _, w := range ws {
		if strings.HasPrefix(w.UUID, prefix) {
			found = append(found, w)
		}
	}
	switch len(found) {
	case 0:
		return api.Warning{}, fmt.Errorf("no warning's UUID starts with %q (lodge warning list --all lists them)", prefix)
	case 1:
		return found[0], nil
	}
	return api.Warning{}, fmt.Errorf("%d warnings' UUIDs start with %q: give more of it", len(found), prefix)
}
