package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lodge-project/lodge/api"
)

func networkPath(name string) string { return "/1.0/networks/" + name }

func cmdNetwork() *cobra.Command {
	cmd := &cobra.Command{Use: "network", Short: "Manage networks"}
	var format string
	list := &cobra.Command{
		Use: "list", Aliases: []string{"ls"}, Short: "List networks",
		RunE: func(cmd *cobra.Command, args []string) error {
			var nets []api.Network
			if _, err := connect().Get("/1.0/networks?recursion=1", &nets); err != nil {
				return err
			}
			rows := [][]string{}
			shown := []api.Network{}
			for _, n := range nets {
				if !n.Managed && (n.Type == "loopback" || n.Type == "unknown") {
					continue // as lxc lists them: veths and lo are not networks to pick
				}
				shown = append(shown, n)
				rows = append(rows, []string{n.Name, strings.ToUpper(n.Type), fmt.Sprint(n.Managed), n.Config["ipv4.address"], n.Config["ipv6.address"], n.Description, fmt.Sprint(len(n.UsedBy))})
			}
			return renderList(cmd.OutOrStdout(), format, []string{"NAME", "TYPE", "MANAGED", "IPV4", "IPV6", "DESCRIPTION", "USED BY"}, rows, shown)
		},
	}
	list.Flags().StringVarP(&format, "format", "f", "table", "output format: table, csv, json or yaml")
	create := &cobra.Command{
		Use: "create NAME [KEY=VALUE...]", Short: "Create a managed bridge network", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := parseKeyValues(args[1:])
			if err != nil {
				return err
			}
			if _, _, err := connect().Query("POST", "/1.0/networks", api.NetworksPost{Name: args[0], Type: "bridge", Config: cfg}, ""); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Network %s created\n", args[0])
			return nil
		},
	}
	show := &cobra.Command{
		Use: "show NAME", Short: "Show a network as YAML", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var n api.Network
			if _, err := connect().Get(networkPath(args[0]), &n); err != nil {
				return err
			}
			return yamlOut(cmd, n)
		},
	}
	get := &cobra.Command{
		Use: "get NAME KEY", Short: "Print a network config key", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var n api.Network
			if _, err := connect().Get(networkPath(args[0]), &n); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), n.Config[args[1]])
			return nil
		},
	}
	set := &cobra.Command{
		Use: "set NAME KEY=VALUE...", Short: "Set network config keys (applied at once)", Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kv, err := parseKeyValues(args[1:])
			if err != nil {
				return err
			}
			return changeNetwork(args[0], func(cfg map[string]string) error {
				for k, v := range kv {
					cfg[k] = v
				}
				return nil
			})
		},
	}
	unset := &cobra.Command{
		Use: "unset NAME KEY...", Short: "Remove network config keys", Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeNetwork(args[0], func(cfg map[string]string) error {
				for _, k := range args[1:] {
					delete(cfg, k)
				}
				return nil
			})
		},
	}
	del := &cobra.Command{
		Use: "delete NAME", Aliases: []string{"rm"}, Short: "Delete an unused network", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, err := connect().Query("DELETE", networkPath(args[0]), nil, "")
			return err
		},
	}
	rename := &cobra.Command{
		Use: "rename NAME NEW-NAME", Short: "Rename an unused network", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, err := connect().Query("POST", networkPath(args[0]), map[string]string{"name": args[1]}, "")
			return err
		},
	}
	leases := &cobra.Command{
		Use: "list-leases NAME", Short: "List DHCP leases and pinned addresses", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ls []api.NetworkLease
			if _, err := connect().Get(networkPath(args[0])+"/leases", &ls); err != nil {
				return err
			}
			rows := [][]string{}
			for _, l := range ls {
				rows = append(rows, []string{l.Hostname, l.Hwaddr, l.Address, strings.ToUpper(l.Type)})
			}
			renderTable(cmd.OutOrStdout(), []string{"HOSTNAME", "MAC ADDRESS", "IP ADDRESS", "TYPE"}, rows)
			return nil
		},
	}
	info := &cobra.Command{
		Use: "info NAME", Short: "Show a network's state", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var st api.NetworkState
			if _, err := connect().Get(networkPath(args[0])+"/state", &st); err != nil {
				return err
			}
			return yamlOut(cmd, st)
		},
	}
	attach := &cobra.Command{
		Use: "attach NETWORK INSTANCE [DEVICE [INTERFACE]]", Short: "Give an instance a NIC on a network", Args: cobra.RangeArgs(2, 4),
		RunE: func(cmd *cobra.Command, args []string) error {
			dev, ifname := args[0], ""
			if len(args) > 2 {
				dev = args[2]
			}
			if len(args) > 3 {
				ifname = args[3]
			}
			return changeInstance(args[1], func(p *api.InstancePut) error {
				if _, ok := p.Devices[dev]; ok {
					return fmt.Errorf("device %s already exists on %s", dev, args[1])
				}
				d := map[string]string{"type": "nic", "network": args[0]}
				if ifname != "" {
					d["name"] = ifname
				}
				p.Devices[dev] = d
				return nil
			})
		},
	}
	cmd.AddCommand(list, create, show, get, set, unset, del, rename, leases, info, attach, cmdNetworkForward(), cmdNetworkACL(), cmdNetworkZone())
	return cmd
}

func changeNetwork(name string, change func(map[string]string) error) error {
	c := connect()
	var n api.Network
	etag, err := c.Get(networkPath(name), &n)
	if err != nil {
		return err
	}
	if n.Config == nil {
		n.Config = map[string]string{}
	}
	if err := change(n.Config); err != nil {
		return err
	}
	_, _, err = c.Query("PUT", networkPath(name), api.NetworkPut{Description: n.Description, Config: n.Config}, etag)
	return err
}
