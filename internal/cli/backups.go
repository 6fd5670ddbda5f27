package cli

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lodge-project/lodge/api"
)

// cmdExport writes a backup of an instance to a file, as lxc export does:
// a backup made on the host, downloaded, then deleted there.
func cmdExport() *cobra.Command {
	var instanceOnly bool
	var compression string
	cmd := &cobra.Command{
		Use: "export NAME [FILE]", Short: "Back up an instance (and its snapshots) to a tarball in LXD's format", Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, file := args[0], "backup.tar.gz"
			if len(args) > 1 {
				file = args[1]
			}
			c := connect()
			req := api.InstanceBackupsPost{ExpiresAt: time.Now().Add(24 * time.Hour), InstanceOnly: instanceOnly, CompressionAlgorithm: compression}
			op, err := c.Do("POST", instancePath(name)+"/backups", req, "")
			if err != nil {
				return fmt.Errorf("back up %s: %w", name, err)
			}
			var backup string
			if op != nil && len(op.Resources["backups"]) > 0 {
				backup = strings.TrimPrefix(op.Resources["backups"][0], "/1.0/backups/")
			}
			if backup == "" {
				return fmt.Errorf("back up %s: the operation did not name the backup", name)
			}
			defer func() { _, _ = c.Do("DELETE", instancePath(name)+"/backups/"+backup, nil, "") }()
			body, err := c.GetRaw(instancePath(name) + "/backups/" + backup + "/export")
			if err != nil {
				return err
			}
			defer body.Close()
			f, err := os.Create(file)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, body); err != nil {
				f.Close()
				_ = os.Remove(file)
				return fmt.Errorf("download the backup: %w", err)
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Backup of %s written to %s\n", name, file)
			return nil
		},
	}
	cmd.Flags().BoolVar(&instanceOnly, "instance-only", false, "leave the snapshots out")
	cmd.Flags().StringVar(&compression, "compression", "", "gzip (default), zstd, xz, bzip2 or none")
	return cmd
}

// cmdImport makes an instance from a backup tarball (Lodge's or LXD's).
func cmdImport() *cobra.Command {
	var pool string
	cmd := &cobra.Command{
		Use: "import FILE [NAME]", Short: "Make an instance from a backup tarball (Lodge's or LXD's)", Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			h := http.Header{}
			h.Set("Content-Type", "application/octet-stream")
			if pool != "" {
				h.Set("X-LXD-pool", pool)
			}
			if len(args) > 1 {
				h.Set("X-LXD-name", args[1])
			}
			c := connect()
			resp, _, err := c.Raw("POST", "/1.0/instances", f, h)
			if err != nil {
				return err
			}
			if resp.Type == api.AsyncResponse {
				if _, err := c.Wait(resp.Operation); err != nil {
					return err
				}
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Instance imported")
			return nil
		},
	}
	cmd.Flags().StringVarP(&pool, "storage", "s", "", "storage pool for the instance (default: the backup's, if it exists here)")
	return cmd
}
