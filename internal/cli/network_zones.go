package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/lodge-project/lodge/api"
)

func zonePath(name string) string { return "/1.0/network-zones/" + name }

func zoneRecordPath(zone, name string) string { return zonePath(zone) + "/records/" + name }

// cmdNetworkZone is lodge network zone, as lxc network zone.
func cmdNetworkZone() *cobra.Command {
	cmd := &cobra.Command{Use: "zone", Short: "Manage network zones: DNS zones of the networks' instances, served by zone transfer (core.dns_address)"}
	var format string
	list := &cobra.Command{
		Use: "list", Aliases: []string{"ls"}, Short: "List network zones", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var zones []api.NetworkZone
			if _, err := connect().Get("/1.0/network-zones?recursion=1", &zones); err != nil {
				return err
			}
			rows := [][]string{}
			for _, z := range zones {
				rows = append(rows, []string{z.Name, z.Description, fmt.Sprint(len(z.UsedBy))})
			}
			return renderList(cmd.OutOrStdout(), format, []string{"NAME", "DESCRIPTION", "USED BY"}, rows, zones)
		},
	}
	list.Flags().StringVarP(&format, "format", "f", "table", "output format: table, csv, json or yaml")
	create := &cobra.Command{
		Use: "create ZONE [KEY=VALUE...]", Short: "Create a network zone (peers.NAME.address, peers.NAME.key, dns.nameservers, network.nat)", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := parseKeyValues(args[1:])
			if err != nil {
				return err
			}
			req := api.NetworkZonesPost{Name: args[0], NetworkZonePut: api.NetworkZonePut{Config: cfg}}
			if _, _, err := connect().Query("POST", "/1.0/network-zones", req, ""); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Network zone %s created\n", args[0])
			return nil
		},
	}
	var zone api.NetworkZone
	configCmds := editableConfig("network zone", "ZONE", 1,
		func(args []string) (map[string]string, error) {
			_, err := connect().Get(zonePath(args[0]), &zone)
			return zone.Config, err
		},
		func(args []string, change func(cfg map[string]string, description *string) error) error {
			return changeZone(args[0], change)
		})
	show := &cobra.Command{
		Use: "show ZONE", Short: "Show a network zone as YAML", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var z api.NetworkZone
			if _, err := connect().Get(zonePath(args[0]), &z); err != nil {
				return err
			}
			return yamlOut(cmd, z)
		},
	}
	edit := &cobra.Command{
		Use: "edit ZONE", Short: "Edit a network zone as YAML ($EDITOR, or stdin when not a terminal)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeZone(args[0], func(cfg map[string]string, description *string) error {
				next, err := editYAML(api.NetworkZonePut{Description: *description, Config: cfg})
				if err != nil {
					return err
				}
				*description = next.Description
				clear(cfg)
				for k, v := range next.Config {
					cfg[k] = v
				}
				return nil
			})
		},
	}
	del := &cobra.Command{
		Use: "delete ZONE", Aliases: []string{"rm"}, Short: "Delete a network zone no network names, and its records", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, err := connect().Query("DELETE", zonePath(args[0]), nil, "")
			return err
		},
	}
	cmd.AddCommand(append([]*cobra.Command{list, create, show, edit, del, cmdNetworkZoneRecord()}, configCmds...)...)
	return cmd
}

// cmdNetworkZoneRecord is lodge network zone record.
func cmdNetworkZoneRecord() *cobra.Command {
	cmd := &cobra.Command{Use: "record", Short: "Manage the records added to a network zone by hand"}
	list := &cobra.Command{
		Use: "list ZONE", Aliases: []string{"ls"}, Short: "List a zone's records", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var recs []api.NetworkZoneRecord
			if _, err := connect().Get(zonePath(args[0])+"/records?recursion=1", &recs); err != nil {
				return err
			}
			rows := [][]string{}
			for _, r := range recs {
				var entries []string
				for _, e := range r.Entries {
					entries = append(entries, e.Type+" "+e.Value)
				}
				rows = append(rows, []string{r.Name, r.Description, strings.Join(entries, "\n")})
			}
			renderTable(cmd.OutOrStdout(), []string{"NAME", "DESCRIPTION", "ENTRIES"}, rows)
			return nil
		},
	}
	create := &cobra.Command{
		Use: "create ZONE NAME [user.KEY=VALUE...]", Short: "Create a record without entries", Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := parseKeyValues(args[2:])
			if err != nil {
				return err
			}
			req := api.NetworkZoneRecordsPost{Name: args[1], NetworkZoneRecordPut: api.NetworkZoneRecordPut{Config: cfg, Entries: []api.NetworkZoneRecordEntry{}}}
			_, _, err = connect().Query("POST", zonePath(args[0])+"/records", req, "")
			return err
		},
	}
	show := &cobra.Command{
		Use: "show ZONE NAME", Short: "Show a record as YAML", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r api.NetworkZoneRecord
			if _, err := connect().Get(zoneRecordPath(args[0], args[1]), &r); err != nil {
				return err
			}
			return yamlOut(cmd, r)
		},
	}
	var rec api.NetworkZoneRecord
	configCmds := editableConfig("record", "ZONE NAME", 2,
		func(args []string) (map[string]string, error) {
			_, err := connect().Get(zoneRecordPath(args[0], args[1]), &rec)
			return rec.Config, err
		},
		func(args []string, change func(cfg map[string]string, description *string) error) error {
			return changeZoneRecord(args[0], args[1], func(p *api.NetworkZoneRecordPut) error { return change(p.Config, &p.Description) })
		})
	edit := &cobra.Command{
		Use: "edit ZONE NAME", Short: "Edit a record as YAML ($EDITOR, or stdin when not a terminal)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeZoneRecord(args[0], args[1], func(p *api.NetworkZoneRecordPut) error {
				next, err := editYAML(*p)
				*p = next
				return err
			})
		},
	}
	del := &cobra.Command{
		Use: "delete ZONE NAME", Aliases: []string{"rm"}, Short: "Delete a record", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, err := connect().Query("DELETE", zoneRecordPath(args[0], args[1]), nil, "")
			return err
		},
	}
	var ttl uint64
	entryAdd := &cobra.Command{
		Use: "add ZONE NAME TYPE VALUE [--ttl N]", Short: "Add an entry (A 192.0.2.10, MX \"10 mail.example.net.\")", Args: cobra.ExactArgs(4),
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeZoneRecord(args[0], args[1], func(p *api.NetworkZoneRecordPut) error {
				p.Entries = append(p.Entries, api.NetworkZoneRecordEntry{Type: args[2], Value: args[3], TTL: ttl})
				return nil
			})
		},
	}
	entryAdd.Flags().Uint64Var(&ttl, "ttl", 0, "the entry's TTL (300 when left out)")
	entryRemove := &cobra.Command{
		Use: "remove ZONE NAME TYPE VALUE", Short: "Remove an entry", Args: cobra.ExactArgs(4),
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeZoneRecord(args[0], args[1], func(p *api.NetworkZoneRecordPut) error {
				kept := []api.NetworkZoneRecordEntry{}
				for _, e := range p.Entries {
					if !strings.EqualFold(e.Type, args[2]) || e.Value != args[3] {
						kept = append(kept, e)
					}
				}
				if len(kept) == len(p.Entries) {
					return fmt.Errorf("record %s has no %s entry %q", args[1], args[2], args[3])
				}
				p.Entries = kept
				return nil
			})
		},
	}
	entry := &cobra.Command{Use: "entry", Short: "Add or remove a record's entries"}
	entry.AddCommand(entryAdd, entryRemove)
	cmd.AddCommand(append([]*cobra.Command{list, create, show, edit, del, entry}, configCmds...)...)
	return cmd
}

// editableConfig makes get, set and unset of an object's config: read
// gets it, change writes it back with its ETag.
// what names the object in help; nargs is how many arguments name it.
func editableConfig(what, use string, nargs int, read func(args []string) (map[string]string, error),
	change func(args []string, change func(cfg map[string]string, description *string) error) error) []*cobra.Command {
	get := &cobra.Command{
		Use: "get " + use + " KEY", Short: "Print a " + what + "'s config key", Args: cobra.ExactArgs(nargs + 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := read(args)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), cfg[args[nargs]])
			return nil
		},
	}
	set := &cobra.Command{
		Use: "set " + use + " KEY=VALUE...", Short: "Set a " + what + "'s config keys", Args: cobra.MinimumNArgs(nargs + 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kv, err := parseKeyValues(args[nargs:])
			if err != nil {
				return err
			}
			return change(args, func(cfg map[string]string, _ *string) error {
				for k, v := range kv {
					cfg[k] = v
				}
				return nil
			})
		},
	}
	unset := &cobra.Command{
		Use: "unset " + use + " KEY...", Short: "Remove a " + what + "'s config keys", Args: cobra.MinimumNArgs(nargs + 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return change(args, func(cfg map[string]string, _ *string) error {
				for _, k := range args[nargs:] {
					delete(cfg, k)
				}
				return nil
			})
		},
	}
	return []*cobra.Command{get, set, unset}
}

// editYAML has the user edit cur as YAML, and returns what they wrote
// (keys they removed are gone).
func editYAML[T any](cur T) (T, error) {
	var next T
	text, _ := yaml.Marshal(cur)
	edited, err := editText(text)
	if err != nil {
		return next, err
	}
	if err := yaml.Unmarshal(edited, &next); err != nil {
		return next, fmt.Errorf("the edited YAML is invalid: %w", err)
	}
	return next, nil
}

func changeZone(name string, change func(cfg map[string]string, description *string) error) error {
	c := connect()
	var z api.NetworkZone
	etag, err := c.Get(zonePath(name), &z)
	if err != nil {
		return err
	}
	put := z.NetworkZonePut
	if put.Config == nil {
		put.Config = map[string]string{}
	}
	if err := change(put.Config, &put.Description); err != nil {
		return err
	}
	_, _, err = c.Query("PUT", zonePath(name), put, etag)
	return err
}

func changeZoneRecord(zone, name string, change func(*api.NetworkZoneRecordPut) error) error {
	c := connect()
	var r api.NetworkZoneRecord
	etag, err := c.Get(zoneRecordPath(zone, name), &r)
	if err != nil {
		return err
	}
	put := r.NetworkZoneRecordPut
	if put.Config == nil {
		put.Config = map[string]string{}
	}
	if err := change(&put); err != nil {
		return err
	}
	_, _, err = c.Query("PUT", zoneRecordPath(zone, name), put, etag)
	return err
}
