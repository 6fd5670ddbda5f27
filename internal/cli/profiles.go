package cli

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/lodge-project/lodge/api"
)

func profilePath(name string) string { return "/1.0/profiles/" + name }

func cmdProfile() *cobra.Command {
	cmd := &cobra.Command{Use: "profile", Short: "Manage profiles"}
	list := &cobra.Command{
		Use: "list", Aliases: []string{"ls"}, Short: "List profiles",
		RunE: func(cmd *cobra.Command, args []string) error {
			var ps []api.Profile
			if _, err := connect().Get("/1.0/profiles?recursion=1", &ps); err != nil {
				return err
			}
			rows := [][]string{}
			for _, p := range ps {
				rows = append(rows, []string{p.Name, p.Description, fmt.Sprint(len(p.UsedBy))})
			}
			renderTable(cmd.OutOrStdout(), []string{"NAME", "DESCRIPTION", "USED BY"}, rows)
			return nil
		},
	}
	create := &cobra.Command{
		Use: "create NAME", Short: "Create an empty profile", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, err := connect().Query("POST", "/1.0/profiles", api.ProfilesPost{Name: args[0]}, "")
			return err
		},
	}
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete an unused profile", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, err := connect().Query("DELETE", profilePath(args[0]), nil, "")
			return err
		},
	}
	show := &cobra.Command{
		Use: "show NAME", Short: "Show a profile as YAML", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p api.Profile
			if _, err := connect().Get(profilePath(args[0]), &p); err != nil {
				return err
			}
			return yamlOut(cmd, p)
		},
	}
	edit := &cobra.Command{
		Use: "edit NAME", Short: "Edit a profile as YAML ($EDITOR, or stdin when not a terminal)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := connect()
			var p api.Profile
			etag, err := c.Get(profilePath(args[0]), &p)
			if err != nil {
				return err
			}
			put := api.ProfilePut{Description: p.Description, Config: p.Config, Devices: p.Devices}
			cur, _ := yaml.Marshal(put)
			edited, err := editText(cur)
			if err != nil {
				return err
			}
			var next api.ProfilePut
			if err := yaml.Unmarshal(edited, &next); err != nil {
				return fmt.Errorf("the edited YAML is invalid: %w", err)
			}
			_, _, err = c.Query("PUT", profilePath(args[0]), next, etag)
			return err
		},
	}
	set := &cobra.Command{
		Use: "set NAME KEY=VALUE...", Short: "Set profile config keys", Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kv, err := parseKeyValues(args[1:])
			if err != nil {
				return err
			}
			return changeProfile(args[0], func(p *api.ProfilePut) error {
				for k, v := range kv {
					p.Config[k] = v
				}
				return nil
			})
		},
	}
	unset := &cobra.Command{
		Use: "unset NAME KEY...", Short: "Remove profile config keys", Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeProfile(args[0], func(p *api.ProfilePut) error {
				for _, k := range args[1:] {
					delete(p.Config, k)
				}
				return nil
			})
		},
	}
	rename := &cobra.Command{
		Use: "rename NAME NEW-NAME", Short: "Rename a profile", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, err := connect().Query("POST", profilePath(args[0]), map[string]string{"name": args[1]}, "")
			return err
		},
	}
	add := &cobra.Command{
		Use: "add INSTANCE PROFILE", Short: "Add a profile to an instance", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeInstance(args[0], func(p *api.InstancePut) error {
				if slices.Contains(p.Profiles, args[1]) {
					return fmt.Errorf("%s already has profile %s", args[0], args[1])
				}
				p.Profiles = append(p.Profiles, args[1])
				return nil
			})
		},
	}
	remove := &cobra.Command{
		Use: "remove INSTANCE PROFILE", Short: "Remove a profile from an instance", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeInstance(args[0], func(p *api.InstancePut) error {
				i := slices.Index(p.Profiles, args[1])
				if i < 0 {
					return fmt.Errorf("%s does not have profile %s", args[0], args[1])
				}
				p.Profiles = slices.Delete(p.Profiles, i, i+1)
				return nil
			})
		},
	}
	assign := &cobra.Command{
		Use: "assign INSTANCE PROFILE[,PROFILE...]", Short: "Set an instance's profiles", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeInstance(args[0], func(p *api.InstancePut) error {
				p.Profiles = strings.Split(args[1], ",")
				if args[1] == "" {
					p.Profiles = []string{}
				}
				return nil
			})
		},
	}
	device := deviceCommands("profile", func(name string, change func(devs map[string]map[string]string) error) error {
		return changeProfile(name, func(p *api.ProfilePut) error { return change(p.Devices) })
	}, func(name string) (map[string]map[string]string, error) {
		var p api.Profile
		_, err := connect().Get(profilePath(name), &p)
		return p.Devices, err
	})
	cmd.AddCommand(list, create, del, show, edit, set, unset, rename, add, remove, assign, device)
	return cmd
}

// changeProfile reads a profile with its ETag, changes it and writes it back.
func changeProfile(name string, change func(*api.ProfilePut) error) error {
	c := connect()
	var p api.Profile
	etag, err := c.Get(profilePath(name), &p)
	if err != nil {
		return err
	}
	put := api.ProfilePut{Description: p.Description, Config: p.Config, Devices: p.Devices}
	if put.Config == nil {
		put.Config = map[string]string{}
	}
	if put.Devices == nil {
		put.Devices = map[string]map[string]string{}
	}
	if err := change(&put); err != nil {
		return err
	}
	_, _, err = c.Query("PUT", profilePath(name), put, etag)
	return err
}

// changeInstance reads an instance with its ETag, changes it and writes it back.
func changeInstance(name string, change func(*api.InstancePut) error) error {
	c := connect()
	var inst api.Instance
	etag, err := c.Get(instancePath(name), &inst)
	if err != nil {
		return err
	}
	put := api.InstancePut{Architecture: inst.Architecture, Config: inst.Config, Devices: inst.Devices,
		Ephemeral: inst.Ephemeral, Profiles: inst.Profiles, Stateful: inst.Stateful, Description: inst.Description}
	if put.Devices == nil {
		put.Devices = map[string]map[string]string{}
	}
	if err := change(&put); err != nil {
		return err
	}
	_, err = c.Do("PUT", instancePath(name), put, etag)
	return err
}

// deviceCommands builds "device add|remove|list|show|set" for instances and profiles.
func deviceCommands(kind string, change func(name string, f func(map[string]map[string]string) error) error,
	get func(name string) (map[string]map[string]string, error)) *cobra.Command {
	cmd := &cobra.Command{Use: "device", Short: "Manage " + kind + " devices"}
	add := &cobra.Command{
		Use: "add NAME DEVICE TYPE [KEY=VALUE...]", Short: "Add a device", Args: cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			kv, err := parseKeyValues(args[3:])
			if err != nil {
				return err
			}
			kv["type"] = args[2]
			return change(args[0], func(devs map[string]map[string]string) error {
				if _, ok := devs[args[1]]; ok {
					return fmt.Errorf("device %s already exists on %s", args[1], args[0])
				}
				devs[args[1]] = kv
				return nil
			})
		},
	}
	remove := &cobra.Command{
		Use: "remove NAME DEVICE...", Short: "Remove devices", Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return change(args[0], func(devs map[string]map[string]string) error {
				for _, dev := range args[1:] {
					if _, ok := devs[dev]; !ok {
						return fmt.Errorf("device %s does not exist on %s", dev, args[0])
					}
					delete(devs, dev)
				}
				return nil
			})
		},
	}
	set := &cobra.Command{
		Use: "set NAME DEVICE KEY=VALUE...", Short: "Change device keys", Args: cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			kv, err := parseKeyValues(args[2:])
			if err != nil {
				return err
			}
			return change(args[0], func(devs map[string]map[string]string) error {
				dev, ok := devs[args[1]]
				if !ok {
					return fmt.Errorf("device %s does not exist on %s", args[1], args[0])
				}
				for k, v := range kv {
					dev[k] = v
				}
				return nil
			})
		},
	}
	list := &cobra.Command{
		Use: "list NAME", Short: "List devices", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			devs, err := get(args[0])
			if err != nil {
				return err
			}
			names := make([]string, 0, len(devs))
			for n := range devs {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				fmt.Fprintln(cmd.OutOrStdout(), n)
			}
			return nil
		},
	}
	show := &cobra.Command{
		Use: "show NAME", Short: "Show devices as YAML", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			devs, err := get(args[0])
			if err != nil {
				return err
			}
			return yamlOut(cmd, devs)
		},
	}
	cmd.AddCommand(add, remove, set, list, show)
	return cmd
}
