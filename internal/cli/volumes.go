package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lodge-project/lodge/api"
)

func volumePath(pool, name string) string { return poolPath(pool) + "/volumes/custom/" + name }

// cmdStorageVolume is `lodge storage volume`: custom volumes, and
// attaching them to instances as disks.
func cmdStorageVolume() *cobra.Command {
	cmd := &cobra.Command{Use: "volume", Short: "Manage storage volumes"}
	var format string
	list := &cobra.Command{
		Use: "list POOL", Aliases: []string{"ls"}, Short: "List a pool's volumes", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var vols []api.StorageVolume
			if _, err := connect().Get(poolPath(args[0])+"/volumes?recursion=1", &vols); err != nil {
				return err
			}
			rows := [][]string{}
			for _, v := range vols {
				rows = append(rows, []string{v.Type, v.Name, v.Description, v.ContentType, fmt.Sprint(len(v.UsedBy))})
			}
			return renderList(cmd.OutOrStdout(), format, []string{"TYPE", "NAME", "DESCRIPTION", "CONTENT-TYPE", "USED BY"}, rows, vols)
		},
	}
	list.Flags().StringVarP(&format, "format", "f", "table", "output format: table, csv, json or yaml")
	create := &cobra.Command{
		Use: "create POOL NAME", Short: "Create an empty custom volume", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.StorageVolumesPost{Name: args[1], Type: "custom", ContentType: "filesystem"}
			if _, _, err := connect().Query("POST", poolPath(args[0])+"/volumes/custom", req, ""); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Storage volume %s created\n", args[1])
			return nil
		},
	}
	show := &cobra.Command{
		Use: "show POOL NAME", Short: "Show a custom volume as YAML", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var v api.StorageVolume
			if _, err := connect().Get(volumePath(args[0], args[1]), &v); err != nil {
				return err
			}
			return yamlOut(cmd, v)
		},
	}
	del := &cobra.Command{
		Use: "delete POOL NAME[/SNAPSHOT]", Aliases: []string{"rm"}, Short: "Delete a custom volume no instance or profile attaches, or a snapshot of one", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if vol, snap, ok := strings.Cut(args[1], "/"); ok {
				_, err := connect().Do("DELETE", volumePath(args[0], vol)+"/snapshots/"+snap, nil, "")
				return err
			}
			if _, _, err := connect().Query("DELETE", volumePath(args[0], args[1]), nil, ""); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Storage volume %s deleted\n", args[1])
			return nil
		},
	}
	attach := &cobra.Command{
		Use: "attach POOL NAME INSTANCE PATH", Short: "Mount a custom volume into an instance at PATH (a disk device named after the volume)", Args: cobra.ExactArgs(4),
		RunE: func(cmd *cobra.Command, args []string) error {
			pool, vol, inst, path := args[0], args[1], args[2], args[3]
			return changeInstance(inst, func(p *api.InstancePut) error {
				if _, ok := p.Devices[vol]; ok {
					return fmt.Errorf("device %s already exists on %s", vol, inst)
				}
				p.Devices[vol] = map[string]string{"type": "disk", "pool": pool, "source": vol, "path": path}
				return nil
			})
		},
	}
	detach := &cobra.Command{
		Use: "detach POOL NAME INSTANCE", Short: "Take a custom volume out of an instance", Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			pool, vol, inst := args[0], args[1], args[2]
			return changeInstance(inst, func(p *api.InstancePut) error {
				for name, d := range p.Devices {
					if d["type"] == "disk" && d["pool"] == pool && d["source"] == vol {
						delete(p.Devices, name)
						return nil
					}
				}
				return fmt.Errorf("%s has no disk of volume %s on pool %s", inst, vol, pool)
			})
		},
	}
	cmd.AddCommand(list, create, show, cmdVolumeInfo(), del, attach, detach)
	cmd.AddCommand(volumeChangeCommands()...)
	cmd.AddCommand(cmdVolumeExport(), cmdVolumeImport())
	return cmd
}
