package cli

import (
	"fmt"
	"net/url"
	"sort"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/lodge-project/lodge/api"
)

func forwardsPath(network string) string { return networkPath(network) + "/forwards" }

func forwardPath(network, listen string) string {
	return forwardsPath(network) + "/" + url.PathEscape(listen)
}

// cmdNetworkForward is lodge network forward, as lxc network forward.
func cmdNetworkForward() *cobra.Command {
	cmd := &cobra.Command{Use: "forward", Short: "Forward an address, or ports of it, to instances on a network"}
	var format string
	list := &cobra.Command{
		Use: "list NETWORK", Aliases: []string{"ls"}, Short: "List a network's forwards", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var fs []api.NetworkForward
			if _, err := connect().Get(forwardsPath(args[0])+"?recursion=1", &fs); err != nil {
				return err
			}
			sort.Slice(fs, func(i, j int) bool { return fs[i].ListenAddress < fs[j].ListenAddress })
			rows := [][]string{}
			for _, f := range fs {
				rows = append(rows, []string{f.ListenAddress, f.Description, f.Config["target_address"], fmt.Sprint(len(f.Ports))})
			}
			return renderList(cmd.OutOrStdout(), format, []string{"LISTEN ADDRESS", "DESCRIPTION", "DEFAULT TARGET ADDRESS", "PORTS"}, rows, fs)
		},
	}
	list.Flags().StringVarP(&format, "format", "f", "table", "output format: table, csv, json or yaml")
	create := &cobra.Command{
		Use: "create NETWORK LISTEN-ADDRESS [target_address=ADDRESS] [user.KEY=VALUE...]", Short: "Create a forward of a listen address", Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := parseKeyValues(args[2:])
			if err != nil {
				return err
			}
			req := api.NetworkForwardsPost{ListenAddress: args[1], NetworkForwardPut: api.NetworkForwardPut{Config: cfg, Ports: []api.NetworkForwardPort{}}}
			if _, _, err := connect().Query("POST", forwardsPath(args[0]), req, ""); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Network forward %s created\n", args[1])
			return nil
		},
	}
	show := &cobra.Command{
		Use: "show NETWORK LISTEN-ADDRESS", Short: "Show a forward as YAML", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var f api.NetworkForward
			if _, err := connect().Get(forwardPath(args[0], args[1]), &f); err != nil {
				return err
			}
			return yamlOut(cmd, f)
		},
	}
	get := &cobra.Command{
		Use: "get NETWORK LISTEN-ADDRESS KEY", Short: "Print a forward's config key", Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			var f api.NetworkForward
			if _, err := connect().Get(forwardPath(args[0], args[1]), &f); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), f.Config[args[2]])
			return nil
		},
	}
	set := &cobra.Command{
		Use: "set NETWORK LISTEN-ADDRESS KEY=VALUE...", Short: "Set a forward's config keys", Args: cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			kv, err := parseKeyValues(args[2:])
			if err != nil {
				return err
			}
			return changeForward(args[0], args[1], func(f *api.NetworkForwardPut) error {
				for k, v := range kv {
					f.Config[k] = v
				}
				return nil
			})
		},
	}
	unset := &cobra.Command{
		Use: "unset NETWORK LISTEN-ADDRESS KEY...", Short: "Remove a forward's config keys", Args: cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeForward(args[0], args[1], func(f *api.NetworkForwardPut) error {
				for _, k := range args[2:] {
					delete(f.Config, k)
				}
				return nil
			})
		},
	}
	edit := &cobra.Command{
		Use: "edit NETWORK LISTEN-ADDRESS", Short: "Edit a forward as YAML ($EDITOR, or stdin when not a terminal)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeForward(args[0], args[1], func(f *api.NetworkForwardPut) error {
				cur, _ := yaml.Marshal(f)
				edited, err := editText(cur)
				if err != nil {
					return err
				}
				var next api.NetworkForwardPut
				if err := yaml.Unmarshal(edited, &next); err != nil {
					return fmt.Errorf("the edited YAML is invalid: %w", err)
				}
				*f = next
				return nil
			})
		},
	}
	del := &cobra.Command{
		Use: "delete NETWORK LISTEN-ADDRESS", Aliases: []string{"rm"}, Short: "Delete a forward", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, err := connect().Query("DELETE", forwardPath(args[0], args[1]), nil, "")
			return err
		},
	}
	cmd.AddCommand(list, create, show, get, set, unset, edit, del, cmdNetworkForwardPort())
	return cmd
}

// cmdNetworkForwardPort is lodge network forward port add|remove.
func cmdNetworkForwardPort() *cobra.Command {
	cmd := &cobra.Command{Use: "port", Short: "Add or remove a forward's port rules"}
	var description string
	add := &cobra.Command{
		Use:   "add NETWORK LISTEN-ADDRESS tcp|udp LISTEN-PORTS TARGET-ADDRESS [TARGET-PORTS]",
		Short: "Forward ports (80,8080-8090) of the listen address to a target: to the same ports, to one, or mapped in order",
		Args:  cobra.RangeArgs(5, 6),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := api.NetworkForwardPort{Description: description, Protocol: args[2], ListenPort: args[3], TargetAddress: args[4]}
			if len(args) > 5 {
				p.TargetPort = args[5]
			}
			return changeForward(args[0], args[1], func(f *api.NetworkForwardPut) error {
				f.Ports = append(f.Ports, p)
				return nil
			})
		},
	}
	add.Flags().StringVar(&description, "description", "", "what the rule is for")
	var all bool
	remove := &cobra.Command{
		Use:   "remove NETWORK LISTEN-ADDRESS [tcp|udp [LISTEN-PORTS]]",
		Short: "Remove the port rule that matches (all that match with --force)",
		Args:  cobra.RangeArgs(2, 4),
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeForward(args[0], args[1], func(f *api.NetworkForwardPut) error {
				kept := []api.NetworkForwardPort{}
				for _, p := range f.Ports {
					if (len(args) < 3 || p.Protocol == args[2]) && (len(args) < 4 || p.ListenPort == args[3]) {
						continue
					}
					kept = append(kept, p)
				}
				switch removed := len(f.Ports) - len(kept); {
				case removed == 0:
					return fmt.Errorf("no port rule of %s matches", args[1])
				case removed > 1 && !all:
					return fmt.Errorf("%d port rules match: name the protocol and listen ports of one, or remove them all with --force", removed)
				}
				f.Ports = kept
				return nil
			})
		},
	}
	remove.Flags().BoolVar(&all, "force", false, "remove every rule that matches")
	cmd.AddCommand(add, remove)
	return cmd
}

// changeForward reads a forward, changes it and writes it back, refused
// if it changed in between (ETag).
func changeForward(network, listen string, change func(*api.NetworkForwardPut) error) error {
	c := connect()
	var f api.NetworkForward
	etag, err := c.Get(forwardPath(network, listen), &f)
	if err != nil {
		return err
	}
	put := f.NetworkForwardPut
	if put.Config == nil {
		put.Config = map[string]string{}
	}
	if err := change(&put); err != nil {
		return err
	}
	_, _, err = c.Query("PUT", forwardPath(network, f.ListenAddress), put, etag)
	return err
}
