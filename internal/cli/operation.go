package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/instance/keys"
	"github.com/lodge-project/lodge/internal/version"
)

func instanceKeys() map[string]keys.Key { return keys.Table }

func cmdOperation() *cobra.Command {
	cmd := &cobra.Command{Use: "operation", Short: "List and show background operations"}
	list := &cobra.Command{
		Use: "list", Short: "List operations",
		RunE: func(cmd *cobra.Command, args []string) error {
			var byStatus map[string][]api.Operation
			if _, err := connect().Get("/1.0/operations?recursion=1", &byStatus); err != nil {
				return err
			}
			rows := [][]string{}
			for _, ops := range byStatus {
				for _, op := range ops {
					rows = append(rows, []string{op.ID, strings.ToUpper(op.Class), op.Description, strings.ToUpper(op.Status),
						fmt.Sprint(op.MayCancel), op.CreatedAt.Local().Format("2006/01/02 15:04 MST")})
				}
			}
			renderTable(cmd.OutOrStdout(), []string{"ID", "TYPE", "DESCRIPTION", "STATUS", "CANCELABLE", "CREATED"}, rows)
			return nil
		},
	}
	show := &cobra.Command{
		Use: "show ID", Short: "Show an operation", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var op api.Operation
			if _, err := connect().Get("/1.0/operations/"+args[0], &op); err != nil {
				return err
			}
			return yamlOut(cmd, op)
		},
	}
	cmd.AddCommand(list, show)
	return cmd
}

func cmdMonitor() *cobra.Command {
	var types []string
	var format string
	cmd := &cobra.Command{
		Use:   "monitor",
		Short: "Print events as they happen",
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "/1.0/events"
			if len(types) > 0 {
				path += "?type=" + strings.Join(types, ",")
			}
			conn, err := connect().Websocket(path)
			if err != nil {
				return err
			}
			defer conn.Close()
			for {
				_, data, err := conn.ReadMessage()
				if err != nil {
					return err
				}
				var ev api.Event
				if err := json.Unmarshal(data, &ev); err != nil {
					continue
				}
				out := cmd.OutOrStdout()
				if format == "json" {
					fmt.Fprintln(out, string(data))
					continue
				}
				b, _ := yaml.Marshal(ev)
				fmt.Fprintf(out, "%s\n\n", b)
			}
		},
	}
	cmd.Flags().StringArrayVar(&types, "type", nil, "event type to show: operation, lifecycle or logging (repeat for several)")
	cmd.Flags().StringVarP(&format, "format", "f", "yaml", "output format: yaml or json")
	return cmd
}

func cmdVersion() *cobra.Command {
	return &cobra.Command{
		Use: "version", Short: "Show client and server versions",
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "Client version: %s\n", version.Version)
			var srv api.Server
			if _, err := connect().Get("/1.0", &srv); err != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "Server version: unreachable\n")
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Server version: %s\n", srv.Environment.ServerVersion)
			return nil
		},
	}
}
