package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/client"
)

func cmdImage() *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Manage images"}
	cmd.AddCommand(cmdImageImport(), cmdImageList(), cmdImageShow(), cmdImageDelete(), cmdImageAlias(),
		cmdImageCopy(), cmdImageExport(), cmdImageRefresh(), cmdImageInfo(), cmdImageExportStreams())
	cmd.AddCommand(cmdImageProperties()...)
	return cmd
}

func cmdImageImport() *cobra.Command {
	var aliases []string
	var public bool
	cmd := &cobra.Command{
		Use:   "import TARBALL|DIRECTORY [ROOTFS]",
		Short: "Import an image: a unified tarball, an unpacked image directory, or a metadata tarball and a rootfs (squashfs or tarball)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := connect()
			fp, err := uploadImage(c, args, public)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Image imported with fingerprint: %s\n", fp)
			for _, a := range aliases {
				if _, _, err := c.Query("POST", "/1.0/images/aliases", api.ImageAliasesPost{Name: a, Target: fp}, ""); err != nil {
					return fmt.Errorf("alias %s: %w", a, err)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&aliases, "alias", nil, "alias to give the image (repeat for several)")
	cmd.Flags().BoolVar(&public, "public", false, "make the image public")
	return cmd
}

// packImageDir streams an unpacked image directory (metadata.yaml, rootfs/
// and, if there, templates/) as a tarball, ids kept as numbers.
func packImageDir(dir string) (io.Reader, func(), error) {
	members := []string{"metadata.yaml", "rootfs"}
	if _, err := os.Stat(filepath.Join(dir, "templates")); err == nil {
		members = append(members, "templates")
	}
	for _, m := range members[:2] {
		if _, err := os.Stat(filepath.Join(dir, m)); err != nil {
			return nil, nil, fmt.Errorf("%s is not an unpacked image: it has no %s", dir, m)
		}
	}
	cmd := exec.Command("tar", append([]string{"-C", dir, "--numeric-owner", "--xattrs", "-c"}, members...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("pack %s: %w", dir, err)
	}
	// Closing our end first ends a tar whose upload stopped early.
	return out, func() { out.Close(); _ = cmd.Wait() }, nil
}

func uploadImage(c *client.Client, files []string, public bool) (string, error) {
	h := http.Header{}
	h.Set("X-LXD-filename", filepath.Base(files[0]))
	if public {
		h.Set("X-LXD-public", "1")
	}
	var body io.Reader
	if st, err := os.Stat(files[0]); err == nil && st.IsDir() && len(files) == 1 {
		// An unpacked image: sent as the unified tarball it would be.
		packed, wait, err := packImageDir(files[0])
		if err != nil {
			return "", err
		}
		defer wait()
		h.Set("Content-Type", "application/octet-stream")
		body = packed
	} else {
		up, err := client.ImageUploadOf(files...)
		if err != nil {
			return "", err
		}
		defer up.Close()
		h.Set("Content-Type", up.ContentType)
		body = up.Body
	}
	resp, _, err := c.Raw("POST", "/1.0/images", body, h)
	if err != nil {
		return "", err
	}
	op, err := c.Wait(resp.Operation)
	if err != nil {
		return "", err
	}
	fp, _ := op.Metadata["fingerprint"].(string)
	return fp, nil
}

func cmdImageList() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List images",
		RunE: func(cmd *cobra.Command, args []string) error {
			imgs, err := listImages(args)
			if err != nil {
				return err
			}
			sort.Slice(imgs, func(i, j int) bool { return imgs[i].UploadedAt.Before(imgs[j].UploadedAt) })
			rows := [][]string{}
			for _, img := range imgs {
				var names []string
				for _, a := range img.Aliases {
					names = append(names, a.Name)
				}
				rows = append(rows, []string{strings.Join(names, "\n"), img.Fingerprint[:12], img.Properties["description"],
					img.Architecture, fmt.Sprintf("%.2fMB", float64(img.Size)/1e6), img.UploadedAt.Local().Format("Jan 2, 2006 at 3:04pm (MST)")})
			}
			return renderList(cmd.OutOrStdout(), format, []string{"ALIAS", "FINGERPRINT", "DESCRIPTION", "ARCHITECTURE", "SIZE", "UPLOAD DATE"}, rows, imgs)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "output format: table, csv, json or yaml")
	cmd.Annotations = map[string]string{ownRemotes: "image servers too"}
	return cmd
}

// listImages lists the images of the remote the arguments name: a
// server's, or an image server's index.
func listImages(args []string) ([]api.Image, error) {
	cfg, err := loadRemotes()
	if err != nil {
		return nil, err
	}
	name := ""
	for _, a := range args {
		if r, rest, ok := cfg.splitRemote(a); ok && rest == "" {
			name = r
		}
	}
	if r, ok := cfg.Remotes[name]; ok && r.Protocol == "simplestreams" {
		src, err := cfg.streamsSource(name)
		if err != nil {
			return nil, err
		}
		return src.List(context.Background())
	}
	c, err := cfg.connectTo(name)
	if err != nil {
		return nil, err
	}
	var imgs []api.Image
	_, err = c.Get("/1.0/images?recursion=1", &imgs)
	return imgs, err
}

// resolveImage turns an alias or fingerprint prefix into a fingerprint.
func resolveImage(c *client.Client, ref string) (string, error) {
	var alias api.ImageAliasesEntry
	if _, err := c.Get("/1.0/images/aliases/"+url.PathEscape(ref), &alias); err == nil {
		return alias.Target, nil
	}
	var img api.Image
	if _, err := c.Get("/1.0/images/"+url.PathEscape(ref), &img); err != nil {
		return "", err
	}
	return img.Fingerprint, nil
}

// getImage is the image an alias or fingerprint prefix names, with its
// ETag.
func getImage(c *client.Client, ref string) (api.Image, string, error) {
	var img api.Image
	fp, err := resolveImage(c, ref)
	if err != nil {
		return img, "", err
	}
	etag, err := c.Get("/1.0/images/"+fp, &img)
	return img, etag, err
}

func cmdImageShow() *cobra.Command {
	return &cobra.Command{
		Use:   "show IMAGE",
		Short: "Show an image's properties",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, _, err := getImage(connect(), args[0])
			if err != nil {
				return err
			}
			return yamlOut(cmd, img)
		},
	}
}

func cmdImageDelete() *cobra.Command {
	return &cobra.Command{
		Use:   "delete IMAGE...",
		Short: "Delete images",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := connect()
			for _, ref := range args {
				fp, err := resolveImage(c, ref)
				if err != nil {
					return err
				}
				if _, err := c.Do("DELETE", "/1.0/images/"+fp, nil, ""); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func cmdImageAlias() *cobra.Command {
	cmd := &cobra.Command{Use: "alias", Short: "Manage image aliases"}
	create := &cobra.Command{
		Use: "create ALIAS IMAGE", Short: "Create an alias", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, err := connect().Query("POST", "/1.0/images/aliases", api.ImageAliasesPost{Name: args[0], Target: args[1]}, "")
			return err
		},
	}
	del := &cobra.Command{
		Use: "delete ALIAS", Short: "Delete an alias", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, err := connect().Query("DELETE", "/1.0/images/aliases/"+url.PathEscape(args[0]), nil, "")
			return err
		},
	}
	rename := &cobra.Command{
		Use: "rename ALIAS NEW-NAME", Short: "Rename an alias", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, err := connect().Query("POST", "/1.0/images/aliases/"+url.PathEscape(args[0]), api.ImageAliasesEntryPost{Name: args[1]}, "")
			return err
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List aliases",
		RunE: func(cmd *cobra.Command, args []string) error {
			var all []api.ImageAliasesEntry
			if _, err := connect().Get("/1.0/images/aliases?recursion=1", &all); err != nil {
				return err
			}
			rows := [][]string{}
			for _, a := range all {
				rows = append(rows, []string{a.Name, a.Target[:12], a.Description})
			}
			var buf bytes.Buffer
			renderTable(&buf, []string{"ALIAS", "FINGERPRINT", "DESCRIPTION"}, rows)
			_, err := cmd.OutOrStdout().Write(buf.Bytes())
			return err
		},
	}
	cmd.AddCommand(create, del, rename, list)
	return cmd
}
