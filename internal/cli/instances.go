package cli

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/lodge-project/lodge/api"
)

// createOpts are the flags launch and init share.
type createOpts struct {
	config, profiles []string
	ephemeral, empty bool
	pool             string
}

func createFlags(cmd *cobra.Command, o *createOpts) {
	cmd.Flags().StringArrayVarP(&o.config, "config", "c", nil, "config key/value to apply to the new instance (KEY=VALUE)")
	cmd.Flags().StringArrayVarP(&o.profiles, "profile", "p", nil, "profile to apply (repeat for several)")
	cmd.Flags().BoolVarP(&o.ephemeral, "ephemeral", "e", false, "delete the instance when it stops")
	cmd.Flags().BoolVar(&o.empty, "empty", false, "create an instance with an empty rootfs (no image)")
	cmd.Flags().StringVarP(&o.pool, "storage", "s", "", "storage pool for the instance's root disk")
}

func createInstance(cmd *cobra.Command, args []string, o createOpts, start bool) error {
	config, profiles, ephemeral, empty := o.config, o.profiles, o.ephemeral, o.empty
	var image, name string
	switch {
	case empty && len(args) == 1:
		name = args[0]
	case !empty && len(args) == 2:
		image, name = args[0], args[1]
	case !empty && len(args) == 1:
		return fmt.Errorf("give the new instance a name: lodge %s %s NAME", cmd.Name(), args[0])
	default:
		return fmt.Errorf("usage: lodge %s IMAGE NAME", cmd.Name())
	}
	cfg, err := parseKeyValues(config)
	if err != nil {
		return err
	}
	req := api.InstancesPost{Name: name, Type: "container", InstancePut: api.InstancePut{Config: cfg, Profiles: profiles, Ephemeral: ephemeral}}
	if o.pool != "" {
		req.Devices = map[string]map[string]string{"root": {"type": "disk", "path": "/", "pool": o.pool}}
	}
	remotes, err := loadRemotes()
	if err != nil {
		return err
	}
	to, name, _ := remotes.splitRemote(name)
	req.Name = name
	c, err := remotes.connectTo(to)
	if err != nil {
		return err
	}
	from, image, _ := remotes.splitRemote(image)
	var ref imageRef
	if empty {
		req.Source = api.InstanceSource{Type: "none"}
	} else if ref, err = imageForTarget(remotes, from, image, to); err != nil {
		return err
	} else if ref.same {
		req.Source = api.InstanceSource{Type: "image", Alias: image}
	} else {
		req.Source = api.InstanceSource{Type: "image", Mode: "pull", Protocol: ref.source.Protocol, Certificate: ref.source.Certificate,
			Alias: ref.source.Alias, Secret: ref.secret}
		if ref.secret != "" {
			req.Source.Fingerprint = ref.fingerprint
		}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Creating %s\n", name)
	progress, done := showProgress(cmd.OutOrStdout(), "Retrieving image")
	create := func(server string) error {
		req.Source.Server = server
		_, err := c.DoProgress("POST", "/1.0/instances", req, progress)
		done()
		return err
	}
	if ref.same || empty {
		err = create("")
	} else {
		err = ref.tryServers(create)
	}
	if err != nil {
		return err
	}
	var inst api.Instance
	if _, err := c.Get(instancePath(name), &inst); err == nil && !hasNIC(inst.ExpandedDevices) {
		fmt.Fprintf(cmd.ErrOrStderr(), "\nThe instance has no network. Set one up for all instances with: lodge init --auto\n"+
			"(or create one with lodge network create, and attach it with lodge network attach)\n\n")
	}
	if !start {
		return nil
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Starting %s\n", name)
	if _, err := c.Do("PUT", instancePath(name)+"/state", api.InstanceStatePut{Action: "start", Timeout: -1}, ""); err != nil {
		return fmt.Errorf("%w\nTry `lodge info --show-log %s` for more info", err, name)
	}
	return nil
}

func cmdLaunch() *cobra.Command {
	var opts createOpts
	cmd := &cobra.Command{
		Use:   "launch IMAGE NAME",
		Short: "Create and start an instance from an image",
		RunE: func(cmd *cobra.Command, args []string) error {
			return createInstance(cmd, args, opts, true)
		},
		Annotations: map[string]string{ownRemotes: "image and instance"},
	}
	createFlags(cmd, &opts)
	return cmd
}

func cmdInit() *cobra.Command {
	var opts createOpts
	var auto, usePreseed, dump bool
	cmd := &cobra.Command{
		Use:   "init [IMAGE NAME]",
		Short: "Set up the host (no arguments: questions, --auto, --preseed, --dump), or create an instance without starting it",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && !opts.empty {
				return hostInit(cmd, auto, usePreseed, dump)
			}
			return createInstance(cmd, args, opts, false)
		},
		Annotations: map[string]string{ownRemotes: "image and instance"},
	}
	createFlags(cmd, &opts)
	cmd.Flags().BoolVar(&auto, "auto", false, "set up the host with defaults: bridge "+defaultBridge+" with NAT, on the default profile")
	cmd.Flags().BoolVar(&usePreseed, "preseed", false, "set up the host from a preseed YAML (lxd init's shape) on stdin")
	cmd.Flags().BoolVar(&dump, "dump", false, "print the host's setup as a preseed YAML")
	return cmd
}

// stateCommand makes start/stop/restart/pause/resume.
func stateCommand(use, short, action string, withStopFlags bool) *cobra.Command {
	var force, all bool
	var timeout int
	cmd := &cobra.Command{
		Use:   use + " NAME... | --all [REMOTE:]",
		Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			c := connect()
			args = withoutEmpty(args)
			if all {
				if len(args) > 0 {
					return fmt.Errorf("--all acts on every instance of the project: name no instance (%s)", strings.Join(args, ", "))
				}
				// One request for all (instance_bulk_state_change).
				req := api.InstancesPut{State: &api.InstanceStatePut{Action: action, Force: force, Timeout: timeout}}
				if _, err := c.Do("PUT", "/1.0/instances", req, ""); err != nil {
					return fmt.Errorf("%s --all: %w", use, err)
				}
				return nil
			}
			if len(args) == 0 {
				return fmt.Errorf("name the instances to %s, or use --all for all of them", use)
			}
			for _, name := range args {
				req := api.InstanceStatePut{Action: action, Force: force, Timeout: timeout}
				if _, err := c.Do("PUT", instancePath(name)+"/state", req, ""); err != nil {
					return fmt.Errorf("%s %s: %w", use, name, err)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "act on all of the project's instances")
	if withStopFlags {
		cmd.Flags().BoolVarP(&force, "force", "f", false, "kill the instance instead of asking it to stop")
		cmd.Flags().IntVar(&timeout, "timeout", -1, "seconds to wait for a clean stop before killing (-1: the instance's boot.host_shutdown_timeout, 30 by default)")
	}
	return cmd
}

func cmdStart() *cobra.Command { return stateCommand("start", "Start instances", "start", false) }
func cmdStop() *cobra.Command  { return stateCommand("stop", "Stop instances", "stop", true) }
func cmdRestart() *cobra.Command {
	return stateCommand("restart", "Restart instances", "restart", true)
}
func cmdPause() *cobra.Command { return stateCommand("pause", "Freeze instances", "freeze", false) }
func cmdResume() *cobra.Command {
	return stateCommand("resume", "Unfreeze instances", "unfreeze", false)
}

func cmdDelete() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "delete NAME[/SNAPSHOT]...",
		Aliases: []string{"rm"},
		Short:   "Delete instances",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := connect()
			for _, name := range args {
				if inst, snap, ok := strings.Cut(name, "/"); ok {
					if _, err := c.Do("DELETE", instancePath(inst)+"/snapshots/"+snap, nil, ""); err != nil {
						return err
					}
					continue
				}
				var inst api.Instance
				if _, err := c.Get(instancePath(name), &inst); err != nil {
					return err
				}
				if inst.StatusCode != api.Stopped {
					if !force {
						return fmt.Errorf("instance %s is running: stop it first, or use --force", name)
					}
					if _, err := c.Do("PUT", instancePath(name)+"/state", api.InstanceStatePut{Action: "stop", Force: true}, ""); err != nil {
						return err
					}
				}
				if _, err := c.Do("DELETE", instancePath(name), nil, ""); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "stop running instances first")
	return cmd
}

func cmdList() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:     "list [NAME-PREFIX...]",
		Aliases: []string{"ls"},
		Short:   "List instances",
		RunE: func(cmd *cobra.Command, args []string) error {
			var all []api.InstanceFull
			if _, err := connect().Get("/1.0/instances?recursion=2", &all); err != nil {
				return err
			}
			var list []api.InstanceFull
			args = withoutEmpty(args)
			for _, inst := range all {
				if len(args) == 0 || matchesAny(inst.Name, args) {
					list = append(list, inst)
				}
			}
			if list == nil {
				list = []api.InstanceFull{}
			}
			sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
			rows := make([][]string, 0, len(list))
			for _, inst := range list {
				var v4 []string
				if inst.State != nil {
					for iface, n := range inst.State.Network {
						for _, a := range n.Addresses {
							if a.Family == "inet" && iface != "lo" {
								v4 = append(v4, fmt.Sprintf("%s (%s)", a.Address, iface))
							}
						}
					}
				}
				rows = append(rows, []string{inst.Name, strings.ToUpper(inst.Status), strings.Join(v4, "\n"), strings.ToUpper(inst.Type), fmt.Sprint(len(inst.Snapshots))})
			}
			return renderList(cmd.OutOrStdout(), format, []string{"NAME", "STATE", "IPV4", "TYPE", "SNAPSHOTS"}, rows, list)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "output format: table, csv, json or yaml")
	return cmd
}

func matchesAny(name string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func cmdInfo() *cobra.Command {
	var showLog bool
	cmd := &cobra.Command{
		Use:   "info NAME",
		Short: "Show an instance's state and usage",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := connect()
			name := args[0]
			var inst api.Instance
			if _, err := c.Get(instancePath(name), &inst); err != nil {
				return err
			}
			var st api.InstanceState
			if _, err := c.Get(instancePath(name)+"/state", &st); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Name: %s\nStatus: %s\nType: %s\nArchitecture: %s\nCreated: %s\n", inst.Name, strings.ToUpper(inst.Status),
				inst.Type, inst.Architecture, inst.CreatedAt.Local().Format(time.RFC1123))
			if !inst.LastUsedAt.IsZero() {
				fmt.Fprintf(w, "Last Used: %s\n", inst.LastUsedAt.Local().Format(time.RFC1123))
			}
			if st.Pid > 0 {
				fmt.Fprintf(w, "PID: %d\nProcesses: %d\n\nResources:\n  CPU usage:\n    CPU usage (in seconds): %d\n  Memory usage:\n    Memory (current): %s\n",
					st.Pid, st.Processes, st.CPU.Usage/1e9, humanBytes(st.Memory.Usage))
				if st.Memory.Total > 0 {
					fmt.Fprintf(w, "    Memory (limit): %s\n", humanBytes(st.Memory.Total))
				}
				if len(st.Network) > 0 {
					fmt.Fprintln(w, "  Network usage:")
					names := make([]string, 0, len(st.Network))
					for n := range st.Network {
						names = append(names, n)
					}
					sort.Strings(names)
					for _, n := range names {
						ns := st.Network[n]
						fmt.Fprintf(w, "    %s:\n      Bytes received: %s\n      Bytes sent: %s\n", n, humanBytes(ns.Counters.BytesReceived), humanBytes(ns.Counters.BytesSent))
					}
				}
			}
			var snaps []api.InstanceSnapshot
			if _, err := c.Get(instancePath(name)+"/snapshots?recursion=1", &snaps); err == nil && len(snaps) > 0 {
				fmt.Fprintln(w, "\nSnapshots:")
				rows := [][]string{}
				for _, s := range snaps {
					exp := ""
					if !s.ExpiresAt.IsZero() {
						exp = s.ExpiresAt.Local().Format("2006/01/02 15:04 MST")
					}
					rows = append(rows, []string{s.Name, s.CreatedAt.Local().Format("2006/01/02 15:04 MST"), exp})
				}
				renderTable(w, []string{"NAME", "TAKEN AT", "EXPIRES AT"}, rows)
			}
			if showLog {
				fmt.Fprintln(w, "\nLog:")
				return copyRaw(c, w, instancePath(name)+"/console")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&showLog, "show-log", false, "show the instance's console log")
	return cmd
}

func humanBytes(b int64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%dB", b)
	}
	div, exp := int64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.2f%ciB", float64(b)/float64(div), "KMGTPE"[exp])
}

func yamlOut(cmd *cobra.Command, v any) error {
	enc := yaml.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent(2)
	return enc.Encode(v)
}

func hasNIC(devices map[string]map[string]string) bool {
	for _, d := range devices {
		if d["type"] == "nic" {
			return true
		}
	}
	return false
}
