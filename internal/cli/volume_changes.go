package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lodge-project/lodge/api"
)

// volumeChangeCommands are the custom volume commands that change one:
// snapshots, restores, renames, copies and moves (lxc's forms).
func volumeChangeCommands() []*cobra.Command {
	snapshot := &cobra.Command{
		Use: "snapshot POOL NAME [SNAPSHOT]", Short: "Snapshot a custom volume", Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.StorageVolumeSnapshotsPost{}
			if len(args) > 2 {
				req.Name = args[2]
			}
			_, err := connect().Do("POST", volumePath(args[0], args[1])+"/snapshots", req, "")
			return err
		},
	}
	restore := &cobra.Command{
		Use: "restore POOL NAME SNAPSHOT", Short: "Bring a custom volume back to a snapshot", Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			var v api.StorageVolume
			c := connect()
			etag, err := c.Get(volumePath(args[0], args[1]), &v)
			if err != nil {
				return err
			}
			put := v.StorageVolumePut
			put.Restore = args[2]
			_, _, err = c.Query("PUT", volumePath(args[0], args[1]), put, etag)
			return err
		},
	}
	rename := &cobra.Command{
		Use: "rename POOL NAME[/SNAPSHOT] NEW[/NEW-SNAPSHOT]", Short: "Rename a custom volume (nothing may attach it) or one of its snapshots", Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := connect()
			if vol, snap, ok := strings.Cut(args[1], "/"); ok {
				_, newSnap, ok := strings.Cut(args[2], "/")
				if !ok {
					newSnap = args[2]
				}
				_, err := c.Do("POST", volumePath(args[0], vol)+"/snapshots/"+snap, api.StorageVolumeSnapshotPost{Name: newSnap}, "")
				return err
			}
			_, _, err := c.Query("POST", volumePath(args[0], args[1]), api.StorageVolumePost{Name: args[2]}, "")
			return err
		},
	}
	var volumeOnly bool
	var mode string
	cp := &cobra.Command{
		Use: "copy [REMOTE:]POOL/NAME [REMOTE:]POOL/NEW", Short: "Copy a custom volume (with its snapshots), within a pool, to another, or to another host", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			from, to, err := twoRemotes(args[0], args[1])
			if err != nil {
				return err
			}
			srcPool, src, dstPool, dst, err := splitPoolVolumes([]string{from.name, to.name})
			if err != nil {
				return err
			}
			if from.remote != to.remote {
				return copyVolumeAcross(cmd.ErrOrStderr(), from.client, to.client, srcPool, src, dstPool, dst, mode, volumeOnly, false)
			}
			c := from.client
			var v api.StorageVolume
			if _, err := c.Get(volumePath(srcPool, src), &v); err != nil {
				return err
			}
			req := api.StorageVolumesPost{Name: dst, Type: "custom", ContentType: v.ContentType, StorageVolumePut: api.StorageVolumePut{Config: v.Config, Description: v.Description},
				Source: api.StorageVolumeSource{Type: "copy", Pool: srcPool, Name: src, VolumeOnly: volumeOnly}}
			_, err = c.Do("POST", poolPath(dstPool)+"/volumes/custom", req, "")
			return err
		},
		Annotations: map[string]string{ownRemotes: "source and target"},
	}
	cp.Flags().BoolVar(&volumeOnly, "volume-only", false, "leave the snapshots out")
	cp.Flags().StringVar(&mode, "mode", "pull", "to another host: pull (the target connects to the source), push (the other way), or relay (this client joins them)")
	var moveMode string
	mv := &cobra.Command{
		Use: "move [REMOTE:]POOL/NAME [REMOTE:]POOL/NEW", Short: "Move a custom volume nothing attaches to another pool or host (or rename it)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			from, to, err := twoRemotes(args[0], args[1])
			if err != nil {
				return err
			}
			srcPool, src, dstPool, dst, err := splitPoolVolumes([]string{from.name, to.name})
			if err != nil {
				return err
			}
			if from.remote != to.remote {
				return copyVolumeAcross(cmd.ErrOrStderr(), from.client, to.client, srcPool, src, dstPool, dst, moveMode, false, true)
			}
			c := from.client
			if srcPool == dstPool {
				_, _, err := c.Query("POST", volumePath(srcPool, src), api.StorageVolumePost{Name: dst}, "")
				return err
			}
			_, err = c.Do("POST", volumePath(srcPool, src), api.StorageVolumePost{Name: dst, Pool: dstPool}, "")
			return err
		},
		Annotations: map[string]string{ownRemotes: "source and target"},
	}
	mv.Flags().StringVar(&moveMode, "mode", "pull", "to another host: pull, push or relay (as for copy)")
	return []*cobra.Command{snapshot, restore, rename, cp, mv}
}

// splitPoolVolumes reads the two POOL/NAME arguments of copy and move.
func splitPoolVolumes(args []string) (srcPool, src, dstPool, dst string, err error) {
	if srcPool, src, err = splitPoolVolume(args[0]); err == nil {
		dstPool, dst, err = splitPoolVolume(args[1])
	}
	return srcPool, src, dstPool, dst, err
}

// splitPoolVolume reads POOL/NAME.
func splitPoolVolume(arg string) (string, string, error) {
	pool, name, ok := strings.Cut(arg, "/")
	if !ok || pool == "" || name == "" {
		return "", "", fmt.Errorf("%q is not POOL/NAME", arg)
	}
	return pool, name, nil
}
