package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/lodge-project/lodge/api"
)

func cmdConfig() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Manage instance config"}
	set := &cobra.Command{
		Use: "set [REMOTE:][NAME] KEY=VALUE... | KEY VALUE", Short: "Set config keys of an instance (live where the key allows), or of the server", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if isServerKey(args) {
				kv, err := serverKeyValues(withoutEmpty(args))
				if err != nil {
					return err
				}
				return patchServerConfig(kv)
			}
			kv, err := parseKeyValues(args[1:])
			if err != nil {
				return err
			}
			return patchConfig(args[0], kv, nil)
		},
	}
	unset := &cobra.Command{
		Use: "unset [REMOTE:][NAME] KEY...", Short: "Remove config keys of an instance, or of the server", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if isServerKey(args) {
				kv := map[string]any{}
				for _, k := range withoutEmpty(args) {
					kv[k] = ""
				}
				return patchServerConfig(kv)
			}
			return patchConfig(args[0], nil, args[1:])
		},
	}
	get := &cobra.Command{
		Use: "get [REMOTE:][NAME] KEY", Short: "Print a config key of an instance, or of the server", Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if isServerKey(args) {
				var srv api.Server
				if _, err := connect().Get("/1.0", &srv); err != nil {
					return err
				}
				keys := withoutEmpty(args)
				if len(keys) != 1 {
					return fmt.Errorf("give one server key")
				}
				fmt.Fprintln(cmd.OutOrStdout(), srv.Config[keys[0]])
				return nil
			}
			if len(args) != 2 {
				return fmt.Errorf("give an instance and a key: lodge config get NAME KEY")
			}
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
	cmd.AddCommand(set, unset, get, show, keys, edit, device, cmdConfigTrust(), cmdConfigMetadata(), cmdConfigTemplate())
	return cmd
}

// isServerKey says whether config set/get/unset names the server's keys:
// no instance (a bare "remote:" leaves the first argument empty), and a
// first argument with a dot, which no instance name has (core.*, images.*).
func isServerKey(args []string) bool {
	return len(args) > 0 && (args[0] == "" || strings.Contains(args[0], "."))
}

// serverKeyValues reads KEY VALUE, or KEY=VALUE...
func serverKeyValues(args []string) (map[string]any, error) {
	out := map[string]any{}
	if len(args) == 2 && !strings.Contains(args[0], "=") {
		out[args[0]] = args[1]
		return out, nil
	}
	kv, err := parseKeyValues(args)
	for k, v := range kv {
		out[k] = v
	}
	return out, err
}

func patchServerConfig(kv map[string]any) error {
	_, _, err := connect().Query("PATCH", "/1.0", map[string]any{"config": kv}, "")
	return err
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
