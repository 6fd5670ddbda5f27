package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lodge-project/lodge/api"
)

// cmdVolumeInfo is lodge storage volume info (lxc storage volume info):
// a custom volume, its use where the pool can tell, its snapshots and
// backups.
func cmdVolumeInfo() *cobra.Command {
	return &cobra.Command{
		Use: "info POOL NAME", Short: "Show a custom volume: its use (where the pool can tell), snapshots and backups", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := connect()
			path := volumePath(args[0], args[1])
			var v api.StorageVolume
			if _, err := c.Get(path, &v); err != nil {
				return err
			}
			var state api.StorageVolumeState
			if _, err := c.Get(path+"/state", &state); err != nil {
				return err
			}
			var snaps []api.StorageVolumeSnapshot
			if _, err := c.Get(path+"/snapshots?recursion=1", &snaps); err != nil {
				return err
			}
			var backups []api.StoragePoolVolumeBackup
			if _, err := c.Get(path+"/backups?recursion=1", &backups); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Name: %s\n", v.Name)
			if v.Description != "" {
				fmt.Fprintf(out, "Description: %s\n", v.Description)
			}
			fmt.Fprintf(out, "Type: %s\nContent type: %s\n", v.Type, v.ContentType)
			if u := state.Usage; u != nil {
				fmt.Fprintf(out, "Usage: %s\n", humanBytes(int64(u.Used)))
				if u.Total > 0 {
					fmt.Fprintf(out, "Total: %s\n", humanBytes(u.Total))
				}
			}
			if !v.CreatedAt.IsZero() {
				fmt.Fprintf(out, "Created: %s\n", v.CreatedAt.Local().Format("2006/01/02 15:04 MST"))
			}
			if len(snaps) > 0 {
				fmt.Fprintln(out, "\nSnapshots:")
				for _, s := range snaps {
					fmt.Fprintf(out, "  %s\t%s\n", s.Name, s.Description)
				}
			}
			if len(backups) > 0 {
				fmt.Fprintln(out, "\nBackups:")
				for _, b := range backups {
					fmt.Fprintf(out, "  %s\t%s\n", b.Name, b.CreatedAt.Local().Format("2006/01/02 15:04 MST"))
				}
			}
			return nil
		},
	}
}
