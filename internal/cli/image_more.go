package cli

import (
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/lodge-project/lodge/api"
)

// Image commands beyond the basics: copy between remotes, export,
// refresh, info, properties and edit.

func cmdImageCopy() *cobra.Command {
	var aliases, profiles []string
	var copyAliases, autoUpdate, public bool
	var mode string
	cmd := &cobra.Command{
		Use:   "copy [REMOTE:]IMAGE REMOTE:",
		Short: "Copy an image to another server (the target downloads it, unless --mode says otherwise)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadRemotes()
			if err != nil {
				return err
			}
			from, image, _ := cfg.splitRemote(args[0])
			to, rest, ok := cfg.splitRemote(args[1])
			if !ok || rest != "" {
				return fmt.Errorf("%q: give the target as REMOTE: (lodge remote list shows them)", args[1])
			}
			if profiles != nil && mode != "pull" {
				return fmt.Errorf("--profile goes with --mode pull only (the target then gives the copy its profiles)")
			}
			if mode == "push" || mode == "relay" {
				return copyImageByMode(cmd, cfg, mode, from, image, to, aliases, copyAliases, autoUpdate, public)
			}
			if mode != "pull" {
				return fmt.Errorf("--mode %q: give pull, push or relay", mode)
			}
			ref, err := imageForTarget(cfg, from, image, to)
			if err != nil {
				return err
			}
			if ref.same {
				return fmt.Errorf("the image is on %s already", to)
			}
			c, err := cfg.connectTo(to)
			if err != nil {
				return err
			}
			req := api.ImagesPost{ImagePut: api.ImagePut{AutoUpdate: autoUpdate, Public: public, Profiles: profiles}}
			req.Source = &api.ImagesPostSource{ImageSource: ref.source, Type: "image", Mode: "pull", Secret: ref.secret, Fingerprint: ref.fingerprint}
			for _, a := range aliases {
				req.Aliases = append(req.Aliases, api.ImageAlias{Name: a})
			}
			if copyAliases {
				req.Aliases = append(req.Aliases, ref.image.Aliases...)
			}
			progress, done := showProgress(cmd.OutOrStdout(), "Copying the image")
			err = ref.tryServers(func(server string) error {
				req.Source.Server = server
				_, err := c.DoProgress("POST", "/1.0/images", req, progress)
				done()
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Image copied successfully!")
			return nil
		},
		Annotations: map[string]string{ownRemotes: "source and target"},
	}
	cmd.Flags().StringArrayVar(&aliases, "alias", nil, "alias to give the copy (repeat for several)")
	cmd.Flags().BoolVar(&copyAliases, "copy-aliases", false, "give the copy the source's aliases too")
	cmd.Flags().BoolVar(&autoUpdate, "auto-update", false, "keep the copy up to date with the source")
	cmd.Flags().BoolVar(&public, "public", false, "make the copy public")
	cmd.Flags().StringArrayVarP(&profiles, "profile", "p", nil, "profile the copy's instances get when they name none (repeat for several; the target must have them)")
	cmd.Flags().StringVar(&mode, "mode", "pull", "pull (the target downloads from the source), push (the source uploads to the target), or relay (this client downloads and uploads)")
	return cmd
}

// copyImageByMode copies an image in push or relay mode: the target
// need not reach the source.
func copyImageByMode(cmd *cobra.Command, cfg *remotesConfig, mode, from, ref, to string, aliases []string, copyAliases, autoUpdate, public bool) error {
	if autoUpdate {
		return fmt.Errorf("--auto-update needs the target to download from the source: leave --mode out")
	}
	if from == "" {
		from = cfg.DefaultRemote
	}
	if to == "" {
		to = cfg.DefaultRemote
	}
	if from == to {
		return fmt.Errorf("the image is on %s already", to)
	}
	src, err := cfg.connectTo(from)
	if err != nil {
		return err
	}
	dst, err := cfg.connectTo(to)
	if err != nil {
		return err
	}
	img, err := imageOn(src, ref)
	if err != nil {
		return fmt.Errorf("image %q on remote %q: %w", ref, from, err)
	}
	req := api.ImagesPost{ImagePut: api.ImagePut{Public: public}}
	for _, a := range aliases {
		req.Aliases = append(req.Aliases, api.ImageAlias{Name: a})
	}
	if copyAliases {
		req.Aliases = append(req.Aliases, img.Aliases...)
	}
	if mode == "push" {
		err = pushImageCopy(cfg, src, dst, to, img, req)
	} else {
		err = relayImageCopy(src, dst, img, req)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), "Image copied successfully!")
	return nil
}

func cmdImageExport() *cobra.Command {
	return &cobra.Command{
		Use:   "export IMAGE [TARGET]",
		Short: "Write an image's files (a unified tarball, or its metadata and rootfs) to TARGET, a folder or file name",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := connect()
			fp, err := resolveImage(c, args[0])
			if err != nil {
				return err
			}
			target := "."
			if len(args) == 2 {
				target = args[1]
			}
			body, header, err := c.GetRawWithHeader("/1.0/images/" + fp + "/export")
			if err != nil {
				return err
			}
			defer body.Close()
			written, err := writeExport(body, header.Get("Content-Type"), header.Get("Content-Disposition"), target, fp)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Image exported successfully: %s\n", strings.Join(written, ", "))
			return nil
		},
	}
}

// writeExport saves an export's body: one file, or each part of a
// multipart body, under the names the server gave (their base names only).
func writeExport(body io.Reader, ctype, disposition, target, fp string) ([]string, error) {
	into := func(name string) string {
		if st, err := os.Stat(target); err == nil && st.IsDir() {
			return filepath.Join(target, safeName(name, fp))
		}
		return target
	}
	mt, params, _ := mime.ParseMediaType(ctype)
	if mt != "multipart/form-data" {
		name := fp
		if _, p, err := mime.ParseMediaType(disposition); err == nil && p["filename"] != "" {
			name = p["filename"]
		}
		path := into(name)
		return []string{path}, saveFile(path, body)
	}
	var written []string
	mr := multipart.NewReader(body, params["boundary"])
	for i := 0; i < 2; i++ {
		part, err := mr.NextPart()
		if err != nil {
			return written, fmt.Errorf("the export ended early: %w", err)
		}
		path := filepath.Join(target, safeName(part.FileName(), part.FormName()+"-"+fp))
		if st, err := os.Stat(target); err != nil || !st.IsDir() {
			// A file name for a split image: the rootfs gets .root beside it.
			path = target
			if part.FormName() == "rootfs" {
				path = target + ".root"
			}
		}
		if err := saveFile(path, part); err != nil {
			return written, err
		}
		written = append(written, path)
	}
	return written, nil
}

// safeName is a file name the server gave, as a plain name in the
// target folder; def when it is none.
func safeName(name, def string) string {
	name = filepath.Base(name)
	if name == "." || name == ".." || name == "/" || name == "" {
		return def
	}
	return name
}

func saveFile(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

func cmdImageRefresh() *cobra.Command {
	return &cobra.Command{
		Use:   "refresh IMAGE...",
		Short: "Refresh images from the servers they came from",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := connect()
			for _, ref := range args {
				fp, err := resolveImage(c, ref)
				if err != nil {
					return err
				}
				progress, done := showProgress(cmd.OutOrStdout(), "Refreshing the image")
				op, err := c.DoProgress("POST", "/1.0/images/"+fp+"/refresh", nil, progress)
				done()
				if err != nil {
					return err
				}
				if refreshed, _ := op.Metadata["refreshed"].(bool); refreshed {
					fmt.Fprintln(cmd.OutOrStdout(), "Image refreshed successfully!")
				} else {
					fmt.Fprintln(cmd.OutOrStdout(), "Image already up to date.")
				}
			}
			return nil
		},
	}
}

func cmdImageInfo() *cobra.Command {
	return &cobra.Command{
		Use:   "info [REMOTE:]IMAGE",
		Short: "Show what an image is (on a server, or an image server)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, err := imageInfo(args[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Fingerprint: %s\nSize: %.2fMB\nArchitecture: %s\nType: %s\nPublic: %s\n", img.Fingerprint,
				float64(img.Size)/1e6, img.Architecture, img.Type, map[bool]string{true: "yes", false: "no"}[img.Public])
			fmt.Fprintf(w, "Timestamps:\n    Created: %s\n    Uploaded: %s\n", stamp(img.CreatedAt), stamp(img.UploadedAt))
			fmt.Fprintf(w, "    Expires: %s\n    Last used: %s\n", stamp(img.ExpiresAt), stamp(img.LastUsedAt))
			fmt.Fprintln(w, "Properties:")
			keys := make([]string, 0, len(img.Properties))
			for k := range img.Properties {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(w, "    %s: %s\n", k, img.Properties[k])
			}
			fmt.Fprintln(w, "Aliases:")
			for _, a := range img.Aliases {
				fmt.Fprintf(w, "    - %s\n", a.Name)
			}
			fmt.Fprintf(w, "Cached: %s\nAuto update: %s\n", yesNo(img.Cached), yesNo(img.AutoUpdate))
			if s := img.UpdateSource; s != nil {
				fmt.Fprintf(w, "Source:\n    Server: %s\n    Protocol: %s\n    Alias: %s\n", s.Server, s.Protocol, s.Alias)
			}
			fmt.Fprintf(w, "Profiles:\n")
			for _, p := range img.Profiles {
				fmt.Fprintf(w, "    - %s\n", p)
			}
			return nil
		},
		Annotations: map[string]string{ownRemotes: "image servers too"},
	}
}

// imageInfo describes image [remote:]ref, asking an image server's index
// when the remote is one.
func imageInfo(arg string) (api.Image, error) {
	cfg, err := loadRemotes()
	if err != nil {
		return api.Image{}, err
	}
	name, ref, _ := cfg.splitRemote(arg)
	if r, ok := cfg.Remotes[name]; ok && r.Protocol == "simplestreams" {
		src, err := cfg.streamsSource(name)
		if err != nil {
			return api.Image{}, err
		}
		found, err := src.Find(context.Background(), ref, "")
		return found.Image, err
	}
	c, err := cfg.connectTo(name)
	if err != nil {
		return api.Image{}, err
	}
	img, _, err := getImage(c, ref)
	return img, err
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006/01/02 15:04 MST")
}

// imagePut reads an image's writable part, changes it, and writes it
// back with its ETag (a concurrent change is refused, not lost).
func imagePut(ref string, change func(*api.ImagePut) error) error {
	c := connect()
	img, etag, err := getImage(c, ref)
	if err != nil {
		return err
	}
	put := api.ImagePut{AutoUpdate: img.AutoUpdate, Properties: img.Properties, Public: img.Public, Profiles: img.Profiles}
	if put.Properties == nil {
		put.Properties = map[string]string{}
	}
	if err := change(&put); err != nil {
		return err
	}
	_, _, err = c.Query("PUT", "/1.0/images/"+img.Fingerprint, put, etag)
	return err
}

func cmdImageProperties() []*cobra.Command {
	get := &cobra.Command{
		Use: "get-property IMAGE KEY", Short: "Show an image property", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, _, err := getImage(connect(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), img.Properties[args[1]])
			return nil
		},
	}
	set := &cobra.Command{
		Use: "set-property IMAGE KEY VALUE", Short: "Set an image property", Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return imagePut(args[0], func(p *api.ImagePut) error { p.Properties[args[1]] = args[2]; return nil })
		},
	}
	unset := &cobra.Command{
		Use: "unset-property IMAGE KEY", Short: "Remove an image property", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return imagePut(args[0], func(p *api.ImagePut) error { delete(p.Properties, args[1]); return nil })
		},
	}
	edit := &cobra.Command{
		Use: "edit IMAGE", Short: "Replace an image's writable part (auto_update, properties, public, profiles) with YAML from stdin", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if isTerminal(os.Stdin) {
				return fmt.Errorf("lodge image edit reads the new YAML on stdin: lodge image show %s > f; edit f; lodge image edit %s < f", args[0], args[0])
			}
			data, err := io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
			if err != nil {
				return err
			}
			return imagePut(args[0], func(p *api.ImagePut) error {
				var next api.ImagePut
				if err := yaml.Unmarshal(data, &next); err != nil {
					return fmt.Errorf("the YAML on stdin: %w", err)
				}
				*p = next
				return nil
			})
		},
	}
	return []*cobra.Command{get, set, unset, edit}
}
