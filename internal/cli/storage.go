package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lodge-project/lodge/api"
)

func poolPath(name string) string { return "/1.0/storage-pools/" + name }

func cmdStorage() *cobra.Command {
	cmd := &cobra.Command{Use: "storage", Short: "Manage storage pools"}
	var format string
	list := &cobra.Command{
		Use: "list", Aliases: []string{"ls"}, Short: "List storage pools",
		RunE: func(cmd *cobra.Command, args []string) error {
			var pools []api.StoragePool
			if _, err := connect().Get("/1.0/storage-pools?recursion=1", &pools); err != nil {
				return err
			}
			rows := [][]string{}
			for _, p := range pools {
				rows = append(rows, []string{p.Name, p.Driver, p.Config["source"], p.Description, fmt.Sprint(len(p.UsedBy)), p.Status})
			}
			return renderList(cmd.OutOrStdout(), format, []string{"NAME", "DRIVER", "SOURCE", "DESCRIPTION", "USED BY", "STATE"}, rows, pools)
		},
	}
	list.Flags().StringVarP(&format, "format", "f", "table", "output format: table, csv, json or yaml")
	create := &cobra.Command{
		Use: "create NAME DRIVER [KEY=VALUE...]", Short: "Create a storage pool (driver dir; source=PATH for an empty directory of yours)", Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := parseKeyValues(args[2:])
			if err != nil {
				return err
			}
			req := api.StoragePoolsPost{Name: args[0], Driver: args[1], StoragePoolPut: api.StoragePoolPut{Config: cfg}}
			if _, _, err := connect().Query("POST", "/1.0/storage-pools", req, ""); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Storage pool %s created\n", args[0])
			return nil
		},
	}
	show := &cobra.Command{
		Use: "show NAME", Short: "Show a storage pool as YAML", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p api.StoragePool
			if _, err := connect().Get(poolPath(args[0]), &p); err != nil {
				return err
			}
			return yamlOut(cmd, p)
		},
	}
	del := &cobra.Command{
		Use: "delete NAME", Aliases: []string{"rm"}, Short: "Delete a storage pool nothing uses", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, _, err := connect().Query("DELETE", poolPath(args[0]), nil, ""); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Storage pool %s deleted\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(list, create, show, del, cmdStorageVolume())
	return cmd
}
