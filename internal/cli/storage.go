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
		Use: "create NAME DRIVER [KEY=VALUE...]", Short: "Create a storage pool: dir [source=DIR], or btrfs [source=DEVICE|DIR] [size=SIZE] (no source: a loop file)", Args: cobra.MinimumNArgs(2),
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
	info := &cobra.Command{
		Use: "info NAME", Short: "Show a storage pool's space and what uses it", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p api.StoragePool
			var res api.StoragePoolResources
			c := connect()
			if _, err := c.Get(poolPath(args[0]), &p); err != nil {
				return err
			}
			if _, err := c.Get(poolPath(args[0])+"/resources", &res); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "name: %s\ndriver: %s\ndescription: %s\n", p.Name, p.Driver, p.Description)
			fmt.Fprintf(w, "space used: %s\ntotal space: %s\n", humanBytes(int64(res.Space.Used)), humanBytes(int64(res.Space.Total)))
			if res.Inodes.Total > 0 {
				fmt.Fprintf(w, "inodes used: %d\ntotal inodes: %d\n", res.Inodes.Used, res.Inodes.Total)
			}
			fmt.Fprintln(w, "used by:")
			for _, u := range p.UsedBy {
				fmt.Fprintf(w, "  %s\n", u)
			}
			return nil
		},
	}
	get := &cobra.Command{
		Use: "get NAME KEY", Short: "Print a storage pool config key", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p api.StoragePool
			if _, err := connect().Get(poolPath(args[0]), &p); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), p.Config[args[1]])
			return nil
		},
	}
	set := &cobra.Command{
		Use: "set NAME KEY=VALUE...", Short: "Set storage pool config keys", Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := parseKeyValues(args[1:])
			if err != nil {
				return err
			}
			_, _, err = connect().Query("PATCH", poolPath(args[0]), map[string]any{"config": cfg}, "")
			return err
		},
	}
	unset := &cobra.Command{
		Use: "unset NAME KEY", Short: "Unset a storage pool config key", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, err := connect().Query("PATCH", poolPath(args[0]), map[string]any{"config": map[string]string{args[1]: ""}}, "")
			return err
		},
	}
	cmd.AddCommand(list, create, show, info, get, set, unset, del, cmdStorageVolume())
	return cmd
}
