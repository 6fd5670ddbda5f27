package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lodge-project/lodge/api"
)

func cmdPublish() *cobra.Command {
	var aliases []string
	var public, force, reuse bool
	var compression string
	cmd := &cobra.Command{
		Use:   "publish [REMOTE:]INSTANCE[/SNAPSHOT] [REMOTE:] [KEY=VALUE...]",
		Short: "Make an image of an instance or snapshot (KEY=VALUE are its properties)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadRemotes()
			if err != nil {
				return err
			}
			from, source, _ := cfg.splitRemote(args[0])
			to, props := from, args[1:]
			if len(props) > 0 {
				if r, rest, ok := cfg.splitRemote(props[0]); ok && rest == "" {
					to, props = r, props[1:]
				}
			}
			if to != from && !(to == "" && from == cfg.DefaultRemote) && !(from == "" && to == cfg.DefaultRemote) {
				return fmt.Errorf("lodge publish makes the image where the instance is (%s): copy it on with lodge image copy", nameOr(from, cfg.DefaultRemote))
			}
			properties, err := parseKeyValues(props)
			if err != nil {
				return err
			}
			c, err := cfg.connectTo(from)
			if err != nil {
				return err
			}
			name, snap, _ := strings.Cut(source, "/")
			if snap == "" && force {
				var st api.InstanceState
				if _, err := c.Get(instancePath(name)+"/state", &st); err == nil && st.Status == "Running" {
					if _, err := c.Do("PUT", instancePath(name)+"/state", api.InstanceStatePut{Action: "stop", Force: true, Timeout: -1}, ""); err != nil {
						return err
					}
					defer func() {
						_, _ = c.Do("PUT", instancePath(name)+"/state", api.InstanceStatePut{Action: "start", Timeout: -1}, "")
					}()
				}
			}
			if reuse {
				// The aliases move to the new image: the old ones go first.
				for _, a := range aliases {
					_, _, _ = c.Query("DELETE", "/1.0/images/aliases/"+a, nil, "")
				}
			}
			typ := "instance"
			if snap != "" {
				typ = "snapshot"
			}
			req := api.ImagesPost{ImagePut: api.ImagePut{Public: public, Properties: properties}, CompressionAlgorithm: compression,
				Source: &api.ImagesPostSource{Type: typ, Name: source}}
			for _, a := range aliases {
				req.Aliases = append(req.Aliases, api.ImageAlias{Name: a})
			}
			op, err := c.Do("POST", "/1.0/images", req, "")
			if err != nil {
				return err
			}
			fp, _ := op.Metadata["fingerprint"].(string)
			fmt.Fprintf(cmd.OutOrStdout(), "Instance published with fingerprint: %s\n", fp)
			return nil
		},
		Annotations: map[string]string{ownRemotes: "instance and image"},
	}
	cmd.Flags().StringArrayVar(&aliases, "alias", nil, "alias for the new image (repeat for several)")
	cmd.Flags().BoolVar(&public, "public", false, "make the image public")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "stop a running instance for the publish, and start it again after")
	cmd.Flags().BoolVar(&reuse, "reuse", false, "take the aliases from the images that have them")
	cmd.Flags().StringVar(&compression, "compression", "", "gzip, zstd, xz, bzip2 or none (images.compression_algorithm by default)")
	return cmd
}

func nameOr(name, def string) string {
	if name == "" {
		return def
	}
	return name
}
