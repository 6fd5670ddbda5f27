package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/backup"
)

// cmdExport writes a backup of an instance to a file, as lxc export does:
// a backup made on the host, downloaded, then deleted there.
func cmdExport() *cobra.Command {
	var instanceOnly, optimized bool
	var compression, since string
	cmd := &cobra.Command{
		Use: "export NAME [FILE]", Short: "Back up an instance (and its snapshots) to a tarball in LXD's format", Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, file := args[0], "backup.tar.gz"
			if len(args) > 1 {
				file = args[1]
			}
			req := api.InstanceBackupsPost{ExpiresAt: time.Now().Add(24 * time.Hour), InstanceOnly: instanceOnly, OptimizedStorage: optimized, CompressionAlgorithm: compression}
			if since != "" {
				s, err := backupSince(cmd.Context(), since)
				if err != nil {
					return err
				}
				req.LodgeSince = s
				req.OptimizedStorage = s.Optimized
			}
			return downloadBackup(cmd, instancePath(name)+"/backups", req, file)
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "an earlier export of the instance (optimized, on btrfs): write only what changed since; importing needs both files in one folder")
	cmd.Flags().BoolVar(&instanceOnly, "instance-only", false, "leave the snapshots out")
	cmd.Flags().BoolVar(&optimized, "optimized-storage", false, "the pool driver's own streams (btrfs): faster, and only a pool of the same driver imports them")
	cmd.Flags().StringVar(&compression, "compression", "", "gzip (default), zstd, xz, bzip2 or none")
	return cmd
}

// cmdImport makes an instance from a backup tarball (Lodge's or LXD's).
func cmdImport() *cobra.Command {
	var pool string
	cmd := &cobra.Command{
		Use: "import FILE [NAME]", Short: "Make an instance from a backup tarball (Lodge's or LXD's)", Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			h := http.Header{}
			if pool != "" {
				h.Set("X-LXD-pool", pool)
			}
			if len(args) > 1 {
				h.Set("X-LXD-name", args[1])
			}
			chain, err := backupChain(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return uploadBackup(cmd, "/1.0/instances", chain, h)
		},
	}
	cmd.Flags().StringVarP(&pool, "storage", "s", "", "storage pool for the instance (default: the backup's, if it exists here)")
	return cmd
}

// cmdVolumeExport writes a backup of a custom volume to a file, as lxc
// storage volume export does.
func cmdVolumeExport() *cobra.Command {
	var volumeOnly, optimized bool
	var compression string
	cmd := &cobra.Command{
		Use: "export POOL NAME [FILE]", Short: "Back up a custom volume (and its snapshots) to a tarball in LXD's format", Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			pool, name, file := args[0], args[1], "backup.tar.gz"
			if len(args) > 2 {
				file = args[2]
			}
			req := api.StoragePoolVolumeBackupsPost{ExpiresAt: time.Now().Add(24 * time.Hour), VolumeOnly: volumeOnly, OptimizedStorage: optimized, CompressionAlgorithm: compression}
			return downloadBackup(cmd, volumePath(pool, name)+"/backups", req, file)
		},
	}
	cmd.Flags().BoolVar(&volumeOnly, "volume-only", false, "leave the snapshots out")
	cmd.Flags().BoolVar(&optimized, "optimized-storage", false, "the pool driver's own streams (btrfs): faster, and only a pool of the same driver imports them")
	cmd.Flags().StringVar(&compression, "compression", "", "gzip (default), zstd, xz, bzip2 or none")
	return cmd
}

// cmdVolumeImport makes a custom volume from a backup tarball.
func cmdVolumeImport() *cobra.Command {
	return &cobra.Command{
		Use: "import POOL FILE [NAME]", Short: "Make a custom volume from a backup tarball (Lodge's or LXD's)", Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			h := http.Header{}
			if len(args) > 2 {
				h.Set("X-LXD-name", args[2])
			}
			return uploadBackup(cmd, poolPath(args[0])+"/volumes/custom", []string{args[1]}, h)
		},
	}
}

// downloadBackup makes a backup through the collection at path, writes
// its tarball to file, and deletes it on the host (lxc's export).
func downloadBackup(cmd *cobra.Command, path string, req any, file string) error {
	c := connect()
	op, err := c.Do("POST", path, req, "")
	if err != nil {
		return fmt.Errorf("back up: %w", err)
	}
	var b string
	if op != nil && len(op.Resources["backups"]) > 0 {
		b = strings.TrimPrefix(op.Resources["backups"][0], "/1.0/backups/")
	}
	if b == "" {
		return fmt.Errorf("back up: the operation did not name the backup")
	}
	defer func() { _, _ = c.Do("DELETE", path+"/"+b, nil, "") }()
	body, err := c.GetRaw(path + "/" + b + "/export")
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
	fmt.Fprintf(cmd.OutOrStdout(), "Backup written to %s\n", file)
	return nil
}

// uploadBackup posts backup tarballs to path and waits for the import:
// one, or an incremental one after the earlier ones it builds on, oldest
// first, whose sizes X-Lodge-Backup-Chain gives.
func uploadBackup(cmd *cobra.Command, path string, files []string, h http.Header) error {
	var readers []io.Reader
	var sizes []string
	for i, file := range files {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		readers = append(readers, f)
		if i < len(files)-1 {
			st, err := f.Stat()
			if err != nil {
				return err
			}
			sizes = append(sizes, strconv.FormatInt(st.Size(), 10))
		}
	}
	if len(sizes) > 0 {
		h.Set("X-Lodge-Backup-Chain", strings.Join(sizes, ","))
	}
	h.Set("Content-Type", "application/octet-stream")
	c := connect()
	resp, _, err := c.Raw("POST", path, io.MultiReader(readers...), h)
	if err != nil {
		return err
	}
	if resp.Type == api.AsyncResponse {
		if _, err := c.Wait(resp.Operation); err != nil {
			return err
		}
	}
	fmt.Fprintln(cmd.OutOrStdout(), "Backup imported")
	return nil
}

// backupSince describes the earlier export file for an incremental one.
func backupSince(ctx context.Context, file string) (*api.BackupSince, error) {
	idx, err := backup.ReadIndex(ctx, file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	trees := idx.Trees()
	if len(trees) == 0 {
		return nil, fmt.Errorf("%s was not exported by lodge, which an incremental export builds on", file)
	}
	return &api.BackupSince{File: filepath.Base(file), Optimized: idx.IsOptimized(), Streams: trees}, nil
}

// backupChain is file and, when it is incremental, the earlier exports it
// builds on, found beside it: oldest first.
func backupChain(ctx context.Context, file string) ([]string, error) {
	chain := []string{file}
	for len(chain) <= 64 {
		idx, err := backup.ReadIndex(ctx, chain[0])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", chain[0], err)
		}
		if idx.LodgeSince == nil {
			return chain, nil
		}
		prev := filepath.Join(filepath.Dir(file), filepath.Base(idx.LodgeSince.File))
		if _, err := os.Stat(prev); err != nil {
			return nil, fmt.Errorf("%s builds on %s, which is missing: put it in the same folder", chain[0], prev)
		}
		chain = append([]string{prev}, chain...)
	}
	return nil, fmt.Errorf("%s builds on more than 64 earlier exports", file)
}
