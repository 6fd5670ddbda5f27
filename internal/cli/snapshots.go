package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lodge-project/lodge/api"
)

func cmdSnapshot() *cobra.Command {
	var expiry string
	cmd := &cobra.Command{
		Use:   "snapshot NAME [SNAPSHOT]",
		Short: "Snapshot an instance (the name follows snapshots.pattern when not given)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.InstanceSnapshotsPost{}
			if len(args) == 2 {
				req.Name = args[1]
			}
			if expiry != "" {
				d, err := time.ParseDuration(expiry)
				if err != nil {
					return fmt.Errorf("--expiry %q: use a duration such as 24h", expiry)
				}
				at := time.Now().Add(d)
				req.ExpiresAt = &at
			}
			_, err := connect().Do("POST", instancePath(args[0])+"/snapshots", req, "")
			return err
		},
	}
	cmd.Flags().StringVar(&expiry, "expiry", "", "delete the snapshot after this long (e.g. 24h)")
	return cmd
}

func cmdRestore() *cobra.Command {
	return &cobra.Command{
		Use:   "restore NAME SNAPSHOT",
		Short: "Restore an instance from a snapshot",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := connect().Do("PUT", instancePath(args[0]), api.InstancePut{Restore: args[1]}, "")
			return err
		},
	}
}

func cmdCopy() *cobra.Command {
	var instanceOnly, ephemeral bool
	var pool string
	var config []string
	cmd := &cobra.Command{
		Use:   "copy SOURCE[/SNAPSHOT] DEST",
		Short: "Copy an instance (with its snapshots) or a snapshot to a new instance",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.InstancesPost{Name: args[1], Type: "container",
				Source: api.InstanceSource{Type: "copy", Source: args[0], InstanceOnly: instanceOnly}}
			req.Ephemeral = ephemeral
			if len(config) > 0 {
				c := connect()
				src := strings.SplitN(args[0], "/", 2)[0]
				var inst api.Instance
				if _, err := c.Get(instancePath(src), &inst); err != nil {
					return err
				}
				kv, err := parseKeyValues(config)
				if err != nil {
					return err
				}
				req.Config, req.Devices, req.Profiles = inst.Config, inst.Devices, inst.Profiles
				for k, v := range kv {
					req.Config[k] = v
				}
			}
			if pool != "" {
				// As lxc does: the copy's root disk, its own, on the pool.
				c := connect()
				src := strings.SplitN(args[0], "/", 2)[0]
				var inst api.Instance
				if _, err := c.Get(instancePath(src), &inst); err != nil {
					return err
				}
				if req.Devices == nil {
					req.Config, req.Devices, req.Profiles = inst.Config, inst.Devices, inst.Profiles
				}
				root := "root"
				for k, d := range inst.ExpandedDevices {
					if d["type"] == "disk" && d["path"] == "/" {
						root = k
					}
				}
				dev := map[string]string{"type": "disk", "path": "/"}
				for k, v := range inst.ExpandedDevices[root] {
					dev[k] = v
				}
				dev["pool"] = pool
				req.Devices[root] = dev
			}
			_, err := connect().Do("POST", "/1.0/instances", req, "")
			return err
		},
	}
	cmd.Flags().StringVarP(&pool, "storage", "s", "", "storage pool for the copy (another pool: copied file by file)")
	cmd.Flags().BoolVar(&instanceOnly, "instance-only", false, "copy the instance without its snapshots")
	cmd.Flags().BoolVarP(&ephemeral, "ephemeral", "e", false, "make the copy ephemeral")
	cmd.Flags().StringArrayVarP(&config, "config", "c", nil, "config key/value for the copy")
	return cmd
}

func cmdMove() *cobra.Command {
	var pool string
	var instanceOnly bool
	cmd := &cobra.Command{
		Use:     "move NAME[/SNAPSHOT] [NEW-NAME[/NEW-SNAPSHOT]] [--storage POOL]",
		Aliases: []string{"rename"},
		Short:   "Rename an instance or a snapshot, or move a stopped instance to another storage pool",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := connect()
			if pool != "" {
				newName := args[0]
				if len(args) > 1 {
					newName = args[1]
				}
				_, err := c.Do("POST", instancePath(args[0]), api.InstancePost{Name: newName, Migration: true, Pool: pool, InstanceOnly: instanceOnly}, "")
				return err
			}
			if len(args) < 2 {
				return fmt.Errorf("give the new name, or --storage POOL")
			}
			name, snap, isSnap := strings.Cut(args[0], "/")
			if isSnap {
				_, newSnap, ok := strings.Cut(args[1], "/")
				if !ok {
					newSnap = args[1]
				}
				_, err := c.Do("POST", instancePath(name)+"/snapshots/"+snap, api.InstanceSnapshotPost{Name: newSnap}, "")
				return err
			}
			_, err := c.Do("POST", instancePath(name), api.InstancePost{Name: args[1]}, "")
			return err
		},
	}
	cmd.Flags().StringVarP(&pool, "storage", "s", "", "move the (stopped) instance's volume to this storage pool")
	cmd.Flags().BoolVar(&instanceOnly, "instance-only", false, "with --storage: leave the snapshots behind (they are deleted)")
	return cmd
}
