package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/client"
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
	var instanceOnly, ephemeral, stateless, noProfiles, refresh bool
	var pool, mode, targetProject string
	var config, profiles []string
	cmd := &cobra.Command{
		Use:   "copy [REMOTE:]SOURCE[/SNAPSHOT] [REMOTE:]DEST",
		Short: "Copy an instance (with its snapshots) or a snapshot to a new instance, on this host or another",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			edit := newInstanceEdits(config, profiles, noProfiles, pool, ephemeral)
			from, to, err := twoRemotes(args[0], args[1])
			if err != nil {
				return err
			}
			if from.remote != to.remote {
				return copyAcross(cmd.ErrOrStderr(), from.client, inProject(to.client, targetProject, nil), from.name, to.name,
					crossCopy{mode: mode, instanceOnly: instanceOnly, stateless: stateless, refresh: refresh, edit: edit})
			}
			if refresh {
				return fmt.Errorf("--refresh brings a copy on another host up to date: name the target's remote")
			}
			req := api.InstancesPost{Name: to.name, Type: "container",
				Source: api.InstanceSource{Type: "copy", Source: from.name, InstanceOnly: instanceOnly}}
			if edit.changes() {
				var inst api.Instance
				if _, err := from.client.Get(instancePath(strings.SplitN(from.name, "/", 2)[0]), &inst); err != nil {
					return err
				}
				req.Config, req.Devices, req.Profiles = map[string]string{}, inst.Devices, inst.Profiles
				for k, v := range inst.Config {
					req.Config[k] = v
				}
				if err := edit(&req, inst); err != nil {
					return err
				}
			}
			req.Ephemeral = ephemeral
			_, err = inProject(from.client, targetProject, &req).Do("POST", "/1.0/instances", req, "")
			return err
		},
		Annotations: map[string]string{ownRemotes: "source and target"},
	}
	cmd.Flags().StringVar(&targetProject, "target-project", "", "the project the copy goes into (on the target host)")
	cmd.Flags().StringVarP(&pool, "storage", "s", "", "storage pool for the copy (another pool: copied file by file)")
	cmd.Flags().BoolVar(&instanceOnly, "instance-only", false, "copy the instance without its snapshots")
	cmd.Flags().BoolVarP(&ephemeral, "ephemeral", "e", false, "make the copy ephemeral")
	cmd.Flags().StringArrayVarP(&config, "config", "c", nil, "config key/value for the copy")
	cmd.Flags().StringArrayVarP(&profiles, "profile", "p", nil, "profile for the copy (instead of the source's)")
	cmd.Flags().BoolVar(&noProfiles, "no-profiles", false, "the copy has no profiles")
	cmd.Flags().BoolVar(&refresh, "refresh", false, "bring a copy on another host up to date: only what changed is sent, its snapshots follow the source's")
	migrationFlags(cmd, &mode, &stateless)
	return cmd
}

// migrationFlags are those of a copy or move to another host.
func migrationFlags(cmd *cobra.Command, mode *string, stateless *bool) {
	cmd.Flags().StringVar(mode, "mode", "pull", "to another host: pull (the target connects to the source), push (the other way), or relay (this client joins them)")
	cmd.Flags().BoolVar(stateless, "stateless", false, "copy a running instance without its running state (its files, frozen while read); stateful needs CRIU")
}

// instanceEdits change a copy's request: config keys, profiles, the root
// disk's pool, ephemeral.
type instanceEdits func(req *api.InstancesPost, inst api.Instance) error

func (e instanceEdits) changes() bool { return e != nil }

// newInstanceEdits is nil when nothing is to change.
func newInstanceEdits(config, profiles []string, noProfiles bool, pool string, ephemeral bool) instanceEdits {
	if len(config) == 0 && len(profiles) == 0 && !noProfiles && pool == "" && !ephemeral {
		return nil
	}
	return func(req *api.InstancesPost, inst api.Instance) error {
		kv, err := parseKeyValues(config)
		if err != nil {
			return err
		}
		if req.Config == nil {
			req.Config = map[string]string{}
		}
		for k, v := range kv {
			req.Config[k] = v
		}
		if noProfiles {
			req.Profiles = []string{}
		} else if len(profiles) > 0 {
			req.Profiles = profiles
		}
		if ephemeral {
			req.Ephemeral = true
		}
		if pool != "" {
			// As lxc does: the copy's root disk, its own, on the pool.
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
			devices := map[string]map[string]string{}
			for k, d := range req.Devices {
				devices[k] = d
			}
			devices[root] = dev
			req.Devices = devices
		}
		return nil
	}
}

// remoteArg is an argument split into its remote (connected) and name.
type remoteArg struct {
	remote, name string
	client       *client.Client
}

// twoRemotes reads a source and a target argument, each with its remote
// (the default one when none is named).
func twoRemotes(from, to string) (remoteArg, remoteArg, error) {
	cfg, err := loadRemotes()
	if err != nil {
		return remoteArg{}, remoteArg{}, err
	}
	split := func(a string) (remoteArg, error) {
		r := remoteArg{remote: cfg.DefaultRemote, name: a}
		if name, rest, ok := cfg.splitRemote(a); ok {
			r.remote, r.name = name, rest
		}
		r.client, err = cfg.connectTo(r.remote)
		return r, err
	}
	f, err := split(from)
	if err != nil {
		return f, remoteArg{}, err
	}
	t, err := split(to)
	return f, t, err
}

func cmdMove() *cobra.Command {
	var pool, mode string
	var instanceOnly, stateless bool
	var targetProject string
	cmd := &cobra.Command{
		Use:     "move [REMOTE:]NAME[/SNAPSHOT] [[REMOTE:]NEW-NAME[/NEW-SNAPSHOT]] [--storage POOL]",
		Aliases: []string{"rename"},
		Short:   "Rename an instance or a snapshot, move a stopped instance to another storage pool, or move an instance to another host",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 2 {
				from, to, err := twoRemotes(args[0], args[1])
				if err != nil {
					return err
				}
				if from.remote != to.remote {
					return copyAcross(cmd.ErrOrStderr(), from.client, inProject(to.client, targetProject, nil), from.name, to.name,
						crossCopy{mode: mode, instanceOnly: instanceOnly, stateless: stateless, move: true,
							edit: newInstanceEdits(nil, nil, false, pool, false)})
				}
				args[0], args[1], target = from.name, to.name, from.client
			} else if err := pickOneRemote(cmd, args); err != nil {
				return err
			}
			c := connect()
			if targetProject != "" {
				// Another project of this host: one request
				// (instance_project_move).
				newName := args[0]
				if len(args) > 1 {
					newName = args[1]
				}
				_, err := c.Do("POST", instancePath(args[0]), api.InstancePost{Name: newName, Migration: true, Project: targetProject, InstanceOnly: instanceOnly}, "")
				return err
			}
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
	cmd.Flags().StringVarP(&pool, "storage", "s", "", "move the (stopped) instance's volume to this storage pool (or, to another host, the pool there)")
	cmd.Flags().BoolVar(&instanceOnly, "instance-only", false, "leave the snapshots behind (they are deleted)")
	cmd.Flags().StringVar(&targetProject, "target-project", "", "the project the instance moves into (on the target host)")
	migrationFlags(cmd, &mode, &stateless)
	cmd.Annotations = map[string]string{ownRemotes: "source and target"}
	return cmd
}

// inProject is c acting in project target (c itself when target is ""),
// with req's source named in c's own project.
func inProject(c *client.Client, target string, req *api.InstancesPost) *client.Client {
	if target == "" {
		return c
	}
	if req != nil { // a copy on this host names the project it copies from
		req.Source.Project = c.Project
		if req.Source.Project == "" {
			req.Source.Project = "default"
		}
	}
	in := *c
	in.Project = target
	return &in
}
