package cli

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/lodge-project/lodge/api"
)

// cmdConfigMetadata is `lodge config metadata show|edit NAME`, as lxc's:
// the instance's image metadata (its templates among it).
func cmdConfigMetadata() *cobra.Command {
	cmd := &cobra.Command{Use: "metadata", Short: "Show or edit an instance's image metadata (metadata.yaml: properties, templates)"}
	show := &cobra.Command{
		Use: "show NAME", Short: "Show an instance's metadata.yaml", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var md api.ImageMetadata
			if _, err := connect().Get(instancePath(args[0])+"/metadata", &md); err != nil {
				return err
			}
			return yamlOut(cmd, md)
		},
	}
	edit := &cobra.Command{
		Use: "edit NAME", Short: "Edit an instance's metadata.yaml ($EDITOR, or stdin when not a terminal)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var md api.ImageMetadata
			if _, err := connect().Get(instancePath(args[0])+"/metadata", &md); err != nil {
				return err
			}
			cur, _ := yaml.Marshal(md)
			edited, err := editText(cur)
			if err != nil {
				return err
			}
			var next api.ImageMetadata
			if err := yaml.Unmarshal(edited, &next); err != nil {
				return fmt.Errorf("the edited YAML is invalid: %w", err)
			}
			_, err = connect().Do("PUT", instancePath(args[0])+"/metadata", next, "")
			return err
		},
	}
	cmd.AddCommand(show, edit)
	return cmd
}

// cmdConfigTemplate is `lodge config template ...`, as lxc's: the files
// of an instance's templates/.
func cmdConfigTemplate() *cobra.Command {
	cmd := &cobra.Command{Use: "template", Short: "Manage an instance's template files (templates/)"}
	path := func(name, tpl string) string {
		return instancePath(name) + "/metadata/templates?path=" + url.QueryEscape(tpl)
	}
	list := &cobra.Command{
		Use: "list NAME", Short: "List an instance's template files", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var names []string
			if _, err := connect().Get(instancePath(args[0])+"/metadata/templates", &names); err != nil {
				return err
			}
			rows := [][]string{}
			for _, n := range names {
				rows = append(rows, []string{n})
			}
			renderTable(cmd.OutOrStdout(), []string{"FILENAME"}, rows)
			return nil
		},
	}
	readTemplate := func(name, tpl string) ([]byte, error) {
		body, err := connect().GetRaw(path(name, tpl))
		if err != nil {
			return nil, err
		}
		defer body.Close()
		return io.ReadAll(body)
	}
	writeTemplate := func(name, tpl string, content []byte) error {
		_, _, err := connect().Raw("POST", path(name, tpl), bytes.NewReader(content), http.Header{"Content-Type": {"application/octet-stream"}})
		return err
	}
	show := &cobra.Command{
		Use: "show NAME TEMPLATE", Short: "Print a template file", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readTemplate(args[0], args[1])
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(data)
			return err
		},
	}
	create := &cobra.Command{
		Use: "create NAME TEMPLATE", Short: "Create a template file: empty, or what stdin holds when it is not a terminal", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var content []byte
			if !isTerminal(os.Stdin) {
				var err error
				if content, err = io.ReadAll(os.Stdin); err != nil {
					return err
				}
			}
			return writeTemplate(args[0], args[1], content)
		},
	}
	edit := &cobra.Command{
		Use: "edit NAME TEMPLATE", Short: "Edit a template file ($EDITOR, or stdin when not a terminal)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cur, err := readTemplate(args[0], args[1])
			if err != nil {
				return err
			}
			content, err := editText(cur)
			if err != nil {
				return err
			}
			return writeTemplate(args[0], args[1], content)
		},
	}
	del := &cobra.Command{
		Use: "delete NAME TEMPLATE", Aliases: []string{"rm"}, Short: "Delete a template file", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := connect().Do("DELETE", path(args[0], args[1]), nil, "")
			return err
		},
	}
	cmd.AddCommand(list, show, create, edit, del)
	return cmd
}
