package cli

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/lodge-project/lodge/api"
)

func cmdConfig() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Manage instance config"}
	set := &cobra.Command{
		Use: "set NAME KEY=VALUE...", Short: "Set config keys (live where the key allows)", Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kv, err := parseKeyValues(args[1:])
			if err != nil {
				return err
			}
			return patchConfig(args[0], kv, nil)
		},
	}
	unset := &cobra.Command{
		Use: "unset NAME KEY...", Short: "Remove config keys", Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error { return patchConfig(args[0], nil, args[1:]) },
	}
	get := &cobra.Command{
		Use: "get NAME KEY", Short: "Print a config key", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var inst api.Instance
			if _, err := connect().Get(instancePath(args[0]), &inst); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), inst.Config[args[1]])
			return nil
		},
	}
	var expanded bool
	show := &cobra.Command{
		Use: "show NAME", Short: "Show an instance's config as YAML", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var inst api.Instance
			if _, err := connect().Get(instancePath(args[0]), &inst); err != nil {
				return err
			}
			put := api.InstancePut{Architecture: inst.Architecture, Config: inst.Config, Devices: inst.Devices,
				Ephemeral: inst.Ephemeral, Profiles: inst.Profiles, Stateful: inst.Stateful, Description: inst.Description}
			if expanded {
				put.Config, put.Devices = inst.ExpandedConfig, inst.ExpandedDevices
			}
			return yamlOut(cmd, put)
		},
	}
	show.Flags().BoolVar(&expanded, "expanded", false, "show the config with profiles applied")
	keys := &cobra.Command{
		Use: "keys", Short: "List the instance config keys Lodge knows",
		RunE: func(cmd *cobra.Command, args []string) error {
			return listKeys(cmd)
		},
	}
	edit := &cobra.Command{
		Use: "edit NAME", Short: "Edit an instance's config as YAML ($EDITOR, or stdin when not a terminal)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeInstance(args[0], func(put *api.InstancePut) error {
				cur, _ := yaml.Marshal(put)
				edited, err := editText(cur)
				if err != nil {
					return err
				}
				var next api.InstancePut
				if err := yaml.Unmarshal(edited, &next); err != nil {
					return fmt.Errorf("the edited YAML is invalid: %w", err)
				}
				*put = next
				return nil
			})
		},
	}
	device := deviceCommands("instance", func(name string, change func(devs map[string]map[string]string) error) error {
		return changeInstance(name, func(p *api.InstancePut) error { return change(p.Devices) })
	}, func(name string) (map[string]map[string]string, error) {
		var inst api.Instance
		_, err := connect().Get(instancePath(name), &inst)
		return inst.Devices, err
	})
	cmd.AddCommand(set, unset, get, show, keys, edit, device)
	return cmd
}

// patchConfig reads the instance with its ETag and writes it back changed,
// so a concurrent edit is refused rather than lost.
func patchConfig(name string, set map[string]string, unset []string) error {
	c := connect()
	var inst api.Instance
	etag, err := c.Get(instancePath(name), &inst)
	if err != nil {
		return err
	}
	for k, v := range set {
		inst.Config[k] = v
	}
	for _, k := range unset {
		if _, ok := inst.Config[k]; !ok {
			return fmt.Errorf("config key %q is not set on %s", k, name)
		}
		delete(inst.Config, k)
	}
	put := api.InstancePut{Architecture: inst.Architecture, Config: inst.Config, Devices: inst.Devices,
		Ephemeral: inst.Ephemeral, Profiles: inst.Profiles, Stateful: inst.Stateful, Description: inst.Description}
	_, err = c.Do("PUT", instancePath(name), put, etag)
	return err
}

func listKeys(cmd *cobra.Command) error {
	table := instanceKeys()
	names := make([]string, 0, len(table))
	for k := range table {
		names = append(names, k)
	}
	sort.Strings(names)
	rows := [][]string{}
	for _, k := range names {
		live := "restart"
		switch {
		case table[k].Live:
			live = "live"
		case table[k].NeedsStop:
			live = "when stopped"
		}
		rows = append(rows, []string{k, table[k].Default, live, table[k].Doc})
	}
	renderTable(cmd.OutOrStdout(), []string{"KEY", "DEFAULT", "APPLIES", "DESCRIPTION"}, rows)
	return nil
}
