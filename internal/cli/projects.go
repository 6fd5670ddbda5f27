package cli

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/lodge-project/lodge/api"
)

// cmdProject is `lodge project ...`, as `lxc project`.
func cmdProject() *cobra.Command {
	cmd := &cobra.Command{Use: "project", Short: "Manage projects"}
	get := func(name string) (api.Project, string, error) {
		var p api.Project
		etag, err := connect().Get("/1.0/projects/"+name, &p)
		return p, etag, err
	}
	put := func(name string, p api.ProjectPut, etag string) error {
		_, err := connect().Do("PUT", "/1.0/projects/"+name, p, etag)
		return err
	}
	list := &cobra.Command{
		Use: "list", Short: "List projects", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ps []api.Project
			if _, err := connect().Get("/1.0/projects?recursion=1", &ps); err != nil {
				return err
			}
			current := currentProject()
			rows := [][]string{}
			for _, p := range ps {
				name := p.Name
				if name == current {
					name += " (current)"
				}
				yes := func(k string) string {
					if v, _ := strconv.ParseBool(p.Config[k]); v {
						return "YES"
					}
					return "NO"
				}
				rows = append(rows, []string{name, yes("features.images"), yes("features.profiles"), yes("features.storage.volumes"),
					yes("features.networks"), p.Description, strconv.Itoa(len(p.UsedBy))})
			}
			renderTable(cmd.OutOrStdout(), []string{"NAME", "IMAGES", "PROFILES", "STORAGE VOLUMES", "NETWORKS", "DESCRIPTION", "USED BY"}, rows)
			return nil
		},
	}
	var createConfig []string
	var description string
	create := &cobra.Command{
		Use: "create NAME [-c KEY=VALUE...]", Short: "Create a project (its own images, profiles and volumes unless -c says otherwise)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := parseKeyValues(createConfig)
			if err != nil {
				return err
			}
			_, err = connect().Do("POST", "/1.0/projects", api.ProjectsPost{Name: args[0], ProjectPut: api.ProjectPut{Config: cfg, Description: description}}, "")
			if err == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "Project %s created\n", args[0])
			}
			return err
		},
	}
	create.Flags().StringArrayVarP(&createConfig, "config", "c", nil, "a config key (KEY=VALUE), repeatable")
	create.Flags().StringVar(&description, "description", "", "the project's description")
	del := &cobra.Command{
		Use: "delete NAME", Aliases: []string{"rm"}, Short: "Delete an empty project", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := connect().Do("DELETE", "/1.0/projects/"+args[0], nil, "")
			return err
		},
	}
	show := &cobra.Command{
		Use: "show NAME", Short: "Show a project", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, _, err := get(args[0])
			if err != nil {
				return err
			}
			return yamlOut(cmd, p)
		},
	}
	edit := &cobra.Command{
		Use: "edit NAME", Short: "Edit a project as YAML ($EDITOR, or stdin when not a terminal)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, etag, err := get(args[0])
			if err != nil {
				return err
			}
			cur, _ := yaml.Marshal(p.ProjectPut)
			edited, err := editText(cur)
			if err != nil {
				return err
			}
			var next api.ProjectPut
			if err := yaml.Unmarshal(edited, &next); err != nil {
				return fmt.Errorf("the edited YAML is invalid: %w", err)
			}
			return put(args[0], next, etag)
		},
	}
	getKey := &cobra.Command{
		Use: "get NAME KEY", Short: "Print a project's config key", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, _, err := get(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), p.Config[args[1]])
			return nil
		},
	}
	set := &cobra.Command{
		Use: "set NAME KEY=VALUE... | KEY VALUE", Short: "Set a project's config keys", Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kv := map[string]string{}
			if len(args) == 3 && !strings.Contains(args[1], "=") {
				kv[args[1]] = args[2]
			} else {
				var err error
				if kv, err = parseKeyValues(args[1:]); err != nil {
					return err
				}
			}
			return changeProject(args[0], get, put, func(cfg map[string]string) {
				for k, v := range kv {
					cfg[k] = v
				}
			})
		},
	}
	unset := &cobra.Command{
		Use: "unset NAME KEY...", Short: "Remove a project's config keys", Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeProject(args[0], get, put, func(cfg map[string]string) {
				for _, k := range args[1:] {
					delete(cfg, k)
				}
			})
		},
	}
	rename := &cobra.Command{
		Use: "rename NAME NEW", Short: "Rename an empty project", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := connect().Do("POST", "/1.0/projects/"+args[0], api.ProjectPost{Name: args[1]}, "")
			return err
		},
	}
	info := &cobra.Command{
		Use: "info NAME", Short: "Show what a project uses of its limits", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var st api.ProjectState
			if _, err := connect().Get("/1.0/projects/"+args[0]+"/state", &st); err != nil {
				return err
			}
			names := make([]string, 0, len(st.Resources))
			for n := range st.Resources {
				names = append(names, n)
			}
			sort.Strings(names)
			rows := [][]string{}
			for _, n := range names {
				r := st.Resources[n]
				limit := "UNLIMITED"
				if r.Limit >= 0 {
					limit = strconv.FormatInt(r.Limit, 10)
				}
				rows = append(rows, []string{strings.ToUpper(n), limit, strconv.FormatInt(r.Usage, 10)})
			}
			renderTable(cmd.OutOrStdout(), []string{"RESOURCE", "LIMIT", "USAGE"}, rows)
			return nil
		},
	}
	switchTo := &cobra.Command{
		Use: "switch [REMOTE:]NAME", Short: "Make a project the current one of its remote", Args: cobra.ExactArgs(1),
		Annotations: map[string]string{ownRemotes: "yes"},
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadRemotes()
			if err != nil {
				return err
			}
			remoteName, name, ok := cfg.splitRemote(args[0])
			if !ok {
				remoteName, name = cfg.DefaultRemote, args[0]
			}
			cl, err := cfg.connectTo(remoteName)
			if err != nil {
				return err
			}
			var p api.Project
			if _, err := cl.Get("/1.0/projects/"+name, &p); err != nil {
				return err
			}
			if cfg.Projects == nil {
				cfg.Projects = map[string]string{}
			}
			cfg.Projects[remoteName] = name
			return cfg.save()
		},
	}
	cmd.AddCommand(list, create, del, show, edit, getKey, set, unset, rename, info, switchTo)
	return cmd
}

// changeProject reads a project, changes its config with change, and
// writes it back with its ETag (a concurrent change is refused, not lost).
func changeProject(name string, get func(string) (api.Project, string, error), put func(string, api.ProjectPut, string) error, change func(map[string]string)) error {
	p, etag, err := get(name)
	if err != nil {
		return err
	}
	if p.Config == nil {
		p.Config = map[string]string{}
	}
	change(p.Config)
	return put(name, p.ProjectPut, etag)
}

// currentProject is the project commands act in on the default remote.
func currentProject() string {
	cfg, err := loadRemotes()
	if err != nil {
		return "default"
	}
	if p := cfg.projectOf(""); p != "" {
		return p
	}
	return "default"
}
