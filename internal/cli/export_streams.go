package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lodge-project/lodge/client"
	"github.com/lodge-project/lodge/internal/imageserver"
)

// lodge image export-streams DIR writes the server's public images as a
// simplestreams tree, for any web server to serve: a host with no
// internet becomes an image server for the others.

func cmdImageExportStreams() *cobra.Command {
	return &cobra.Command{
		Use:   "export-streams [REMOTE:] DIR",
		Short: "Write the public images as a simplestreams tree (streams/v1/index.json, images.json and the files) into DIR",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			args = withoutEmpty(args)
			if len(args) != 1 {
				return fmt.Errorf("give the folder to write the tree into")
			}
			n, err := exportStreams(connect(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d images written to %s\n", n, args[0])
			return nil
		},
	}
}

func exportStreams(c *client.Client, dir string) (int, error) {
	var products imageserver.Products
	files := []string{"streams/v1/index.json", "streams/v1/images.json"}
	data, err := fetchAll(c, "/"+files[1])
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(data, &products); err != nil {
		return 0, fmt.Errorf("images.json: %w", err)
	}
	for _, p := range products.Products {
		for _, v := range p.Versions {
			for _, item := range v.Items {
				files = append(files, item.Path)
			}
		}
	}
	for _, f := range files {
		if filepath.IsAbs(f) || strings.Contains("/"+f+"/", "/../") {
			return 0, fmt.Errorf("the server lists %q, which is not a path in the tree", f)
		}
		if err := fetchTo(c, "/"+f, filepath.Join(dir, f)); err != nil {
			return 0, err
		}
	}
	return len(products.Products), nil
}

func fetchAll(c *client.Client, path string) ([]byte, error) {
	body, err := c.GetRaw(path)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return io.ReadAll(io.LimitReader(body, 64<<20))
}

// fetchTo downloads path into file, whole or not at all.
func fetchTo(c *client.Client, path, file string) error {
	body, err := c.GetRaw(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer body.Close()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	if err := saveFile(file+".partial", body); err != nil {
		return err
	}
	return os.Rename(file+".partial", file)
}
