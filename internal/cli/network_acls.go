package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/lodge-project/lodge/api"
)

func aclPath(name string) string { return "/1.0/network-acls/" + name }

// cmdNetworkACL is lodge network acl, as lxc network acl.
func cmdNetworkACL() *cobra.Command {
	cmd := &cobra.Command{Use: "acl", Short: "Manage network ACLs: rules for what crosses a network's boundary (security.acls)"}
	var format string
	list := &cobra.Command{
		Use: "list", Aliases: []string{"ls"}, Short: "List network ACLs", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var acls []api.NetworkACL
			if _, err := connect().Get("/1.0/network-acls?recursion=1", &acls); err != nil {
				return err
			}
			rows := [][]string{}
			for _, a := range acls {
				rows = append(rows, []string{a.Name, a.Description, fmt.Sprint(len(a.UsedBy))})
			}
			return renderList(cmd.OutOrStdout(), format, []string{"NAME", "DESCRIPTION", "USED BY"}, rows, acls)
		},
	}
	list.Flags().StringVarP(&format, "format", "f", "table", "output format: table, csv, json or yaml")
	create := &cobra.Command{
		Use: "create NAME [user.KEY=VALUE...]", Short: "Create a network ACL without rules", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := parseKeyValues(args[1:])
			if err != nil {
				return err
			}
			req := api.NetworkACLsPost{NetworkACLPost: api.NetworkACLPost{Name: args[0]}, NetworkACLPut: api.NetworkACLPut{Config: cfg}}
			if _, _, err := connect().Query("POST", "/1.0/network-acls", req, ""); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Network ACL %s created\n", args[0])
			return nil
		},
	}
	show := &cobra.Command{
		Use: "show NAME", Short: "Show a network ACL as YAML", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var a api.NetworkACL
			if _, err := connect().Get(aclPath(args[0]), &a); err != nil {
				return err
			}
			return yamlOut(cmd, a)
		},
	}
	get := &cobra.Command{
		Use: "get NAME KEY", Short: "Print a network ACL's config key", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var a api.NetworkACL
			if _, err := connect().Get(aclPath(args[0]), &a); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), a.Config[args[1]])
			return nil
		},
	}
	set := &cobra.Command{
		Use: "set NAME KEY=VALUE...", Short: "Set a network ACL's config keys (user.*)", Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kv, err := parseKeyValues(args[1:])
			if err != nil {
				return err
			}
			return changeACL(args[0], func(a *api.NetworkACLPut) error {
				for k, v := range kv {
					a.Config[k] = v
				}
				return nil
			})
		},
	}
	unset := &cobra.Command{
		Use: "unset NAME KEY...", Short: "Remove a network ACL's config keys", Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeACL(args[0], func(a *api.NetworkACLPut) error {
				for _, k := range args[1:] {
					delete(a.Config, k)
				}
				return nil
			})
		},
	}
	edit := &cobra.Command{
		Use: "edit NAME", Short: "Edit a network ACL as YAML ($EDITOR, or stdin when not a terminal)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeACL(args[0], func(a *api.NetworkACLPut) error {
				cur, _ := yaml.Marshal(a)
				edited, err := editText(cur)
				if err != nil {
					return err
				}
				var next api.NetworkACLPut
				if err := yaml.Unmarshal(edited, &next); err != nil {
					return fmt.Errorf("the edited YAML is invalid: %w", err)
				}
				*a = next
				return nil
			})
		},
	}
	rename := &cobra.Command{
		Use: "rename NAME NEW-NAME", Short: "Rename a network ACL no network uses", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, err := connect().Query("POST", aclPath(args[0]), api.NetworkACLPost{Name: args[1]}, "")
			return err
		},
	}
	del := &cobra.Command{
		Use: "delete NAME", Aliases: []string{"rm"}, Short: "Delete a network ACL no network uses", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, err := connect().Query("DELETE", aclPath(args[0]), nil, "")
			return err
		},
	}
	cmd.AddCommand(list, create, show, get, set, unset, edit, rename, del, cmdNetworkACLRule())
	return cmd
}

// cmdNetworkACLRule is lodge network acl rule add|remove NAME ingress|egress KEY=VALUE...
func cmdNetworkACLRule() *cobra.Command {
	cmd := &cobra.Command{Use: "rule", Short: "Add or remove a network ACL's rules"}
	add := &cobra.Command{
		Use:   "add NAME ingress|egress action=allow|reject|drop [KEY=VALUE...]",
		Short: "Add a rule: source, destination, protocol, source_port, destination_port, icmp_type, icmp_code, description, state",
		Args:  cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			rule, err := aclRuleOf(args[2:])
			if err != nil {
				return err
			}
			return changeACLRules(args[0], args[1], func(rules *[]api.NetworkACLRule) error {
				*rules = append(*rules, rule)
				return nil
			})
		},
	}
	var all bool
	remove := &cobra.Command{
		Use:   "remove NAME ingress|egress [KEY=VALUE...]",
		Short: "Remove the rule whose keys match those given (every match with --force)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kv, err := parseKeyValues(args[2:])
			if err != nil {
				return err
			}
			return changeACLRules(args[0], args[1], func(rules *[]api.NetworkACLRule) error {
				kept := []api.NetworkACLRule{}
				for _, r := range *rules {
					if !aclRuleMatches(r, kv) {
						kept = append(kept, r)
					}
				}
				switch removed := len(*rules) - len(kept); {
				case removed == 0:
					return fmt.Errorf("no %s rule of %s matches", args[1], args[0])
				case removed > 1 && !all:
					return fmt.Errorf("%d %s rules match: give more keys to pick one, or remove them all with --force", removed, args[1])
				}
				*rules = kept
				return nil
			})
		},
	}
	remove.Flags().BoolVar(&all, "force", false, "remove every rule that matches")
	cmd.AddCommand(add, remove)
	return cmd
}

// aclRuleFields are a rule's keys as the CLI names them.
func aclRuleFields(r *api.NetworkACLRule) map[string]*string {
	return map[string]*string{"action": &r.Action, "source": &r.Source, "destination": &r.Destination, "protocol": &r.Protocol,
		"source_port": &r.SourcePort, "destination_port": &r.DestinationPort, "icmp_type": &r.ICMPType, "icmp_code": &r.ICMPCode,
		"description": &r.Description, "state": &r.State}
}

func aclRuleOf(args []string) (api.NetworkACLRule, error) {
	var r api.NetworkACLRule
	kv, err := parseKeyValues(args)
	if err != nil {
		return r, err
	}
	fields := aclRuleFields(&r)
	for k, v := range kv {
		f, ok := fields[k]
		if !ok {
			return r, fmt.Errorf("unknown rule key %q", k)
		}
		*f = v
	}
	return r, nil
}

func aclRuleMatches(r api.NetworkACLRule, kv map[string]string) bool {
	fields := aclRuleFields(&r)
	for k, v := range kv {
		f, ok := fields[k]
		if !ok || *f != v {
			return false
		}
	}
	return true
}

// changeACLRules changes the rules of one direction (ingress, egress) of
// an ACL.
func changeACLRules(name, dir string, change func(*[]api.NetworkACLRule) error) error {
	return changeACL(name, func(a *api.NetworkACLPut) error {
		switch strings.ToLower(dir) {
		case "ingress":
			return change(&a.Ingress)
		case "egress":
			return change(&a.Egress)
		}
		return fmt.Errorf("direction %q is not ingress or egress", dir)
	})
}

// changeACL reads an ACL, changes it and writes it back, refused if it
// changed in between (ETag).
func changeACL(name string, change func(*api.NetworkACLPut) error) error {
	c := connect()
	var a api.NetworkACL
	etag, err := c.Get(aclPath(name), &a)
	if err != nil {
		return err
	}
	put := a.NetworkACLPut
	if put.Config == nil {
		put.Config = map[string]string{}
	}
	if err := change(&put); err != nil {
		return err
	}
	_, _, err = c.Query("PUT", aclPath(name), put, etag)
	return err
}
