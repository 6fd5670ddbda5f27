package backup

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"gopkg.in/yaml.v3"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/decompress"
)

// gzipped says whether the file at path is gzip (tar would detect it, and
// run GNU gzip).
func gzipped(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 2)
	n, _ := io.ReadFull(f, head)
	return decompress.IsGzip(head[:n])
}

// open streams the tarball at path, decompressed; close ends it.
func open(ctx context.Context, path string) (r io.Reader, closeFn func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReader(f)
	head, _ := br.Peek(6)
	argv := decompress.Command(head)
	if argv == nil {
		return br, func() { f.Close() }, nil
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = br
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return out, func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		f.Close()
	}, nil
}

// ReadIndex reads backup/index.yaml from the tarball at path (compressed
// or not), and backup/container/backup.yaml for the config when the index
// carries none (older LXD backups).
func ReadIndex(ctx context.Context, path string) (Index, error) {
	r, closeFn, err := open(ctx, path)
	if err != nil {
		return Index{}, err
	}
	defer closeFn()
	var idx Index
	var haveIndex bool
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Index{}, apierr.BadRequest("the backup is not a tarball LXD or Lodge wrote: %v", err)
		}
		switch hdr.Name {
		case "backup/index.yaml":
			if err := decodeYAML(tr, &idx); err != nil {
				return Index{}, apierr.BadRequest("the backup's index.yaml: %v", err)
			}
			haveIndex = true
		case "backup/container/backup.yaml":
			if idx.Config == nil {
				var cfg Config
				if err := decodeYAML(tr, &cfg); err != nil {
					return Index{}, apierr.BadRequest("the backup's backup.yaml: %v", err)
				}
				idx.Config = &cfg
			}
		case "backup/optimized_header.yaml":
			var h OptimizedHeader
			if err := decodeYAML(tr, &h); err != nil {
				return Index{}, apierr.BadRequest("the backup's optimized_header.yaml: %v", err)
			}
			idx.Header = &h
		case "backup/container.bin", "backup/volume.bin":
			t := true
			if idx.Optimized == nil {
				idx.Optimized = &t
			}
		}
		wantHeader := idx.OptimizedHeader != nil && *idx.OptimizedHeader && idx.Header == nil
		if haveIndex && idx.Config != nil && !wantHeader {
			break
		}
	}
	if !haveIndex {
		return Index{}, apierr.BadRequest("the backup has no backup/index.yaml: it is not an instance backup")
	}
	if idx.Type == "" {
		idx.Type = "container"
	}
	return idx, nil
}

func decodeYAML(r io.Reader, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return err
	}
	return yaml.Unmarshal(data, v)
}

// Extract unpacks the tarball's member dir (such as backup/container) into
// dest with GNU tar: numeric owners, xattrs and ACLs kept, absolute and
// ".." members refused, links that point outside made last so that no
// member is written through one.
func Extract(ctx context.Context, path, member, dest string) error {
	strip := strings.Count(strings.Trim(member, "/"), "/") + 1
	args := []string{"-x", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls", "--same-permissions",
		"--strip-components", fmt.Sprint(strip), "-f", path, "-C", dest, member}
	if gzipped(path) {
		args = append([]string{decompress.GzipTarFlag()}, args...)
	}
	cmd := exec.CommandContext(ctx, "tar", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return apierr.BadRequest("the backup's %s is malformed or truncated (tar: %s)", member, strings.TrimSpace(string(out)))
	}
	return nil
}

// CheckTree makes an unpacked volume safe to use, as an image's: no links
// at its top level (rootfs/ a link to a host directory would become a
// container's root), rootfs/ a directory, and no device nodes anywhere.
func CheckTree(dir string) error {
	if err := CheckTop(dir); err != nil {
		return err
	}
	return DropDeviceNodes(dir)
}

// CheckTop checks a received volume's top: no link there, a rootfs/
// directory. (CheckTree does, and drops the device nodes below too.)
func CheckTop(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var rootfs bool
	for _, e := range entries {
		if e.Type()&fs.ModeSymlink != 0 {
			return apierr.BadRequest("the backup's volume holds a symbolic link at its top (%s)", e.Name())
		}
		if e.Name() == "rootfs" {
			rootfs = e.IsDir()
		}
	}
	if !rootfs {
		return apierr.BadRequest("the backup's volume has no rootfs/ directory")
	}
	return nil
}

// DropDeviceNodes removes the device nodes below dir (WalkDir follows no
// link): lodged, as host root, would reach the host's device through one.
func DropDeviceNodes(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeDevice != 0 {
			return os.Remove(p)
		}
		return nil
	})
}
