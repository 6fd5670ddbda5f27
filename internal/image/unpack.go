package image

import (
	"bytes"
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

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/decompress"
	"gopkg.in/yaml.v3"

	"github.com/lodge-project/lodge/api"
)

// untar extracts a (possibly compressed) tarball into dir with GNU tar,
// which detects gzip/xz/zstd/bzip2 by content (gzip is decompressed with
// decompress's program), keeps numeric owners and xattrs, refuses absolute and
// ".." members, and defers symlinks that point outside so no later member
// can be written through them.
func untar(ctx context.Context, file, dir string) error {
	args := []string{"-x", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--same-permissions",
		"-f", file, "-C", dir}
	if Extension(file) == ".tar.gz" {
		args = append([]string{decompress.GzipTarFlag()}, args...)
	}
	out, err := helper(ctx, "tar", args...).CombinedOutput()
	if ctx.Err() != nil {
		return ctx.Err() // the import was cancelled: tar was killed
	}
	if err != nil {
		return apierr.BadRequest("the image tarball is malformed or truncated (tar: %s)", firstLine(out))
	}
	return nil
}

// helper is an unpacking command that dies with lodged (a crash must not
// leave it writing into a volume that start-up repair removes) and with
// its operation (a cancelled import stops unpacking).
func helper(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// Extension names a stored image file's format as LXD's export does
// (".tar.gz", ".tar.xz", ".squashfs", ...; "" when unknown), from its first
// bytes: an exported image keeps the extension of what it is.
func Extension(file string) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := make([]byte, 263)
	n, _ := io.ReadFull(f, h)
	h = h[:n]
	has := func(off int, magic ...byte) bool {
		return len(h) >= off+len(magic) && bytes.Equal(h[off:off+len(magic)], magic)
	}
	switch {
	case has(0, 'B', 'Z'):
		return ".tar.bz2"
	case has(0, 0x1f, 0x8b):
		return ".tar.gz"
	case has(0, 0xfd, '7', 'z', 'X', 'Z'):
		return ".tar.xz"
	case has(0, 0x28, 0xb5, 0x2f, 0xfd):
		return ".tar.zst"
	case has(0, 'h', 's', 'q', 's'):
		return ".squashfs"
	case has(257, 'u', 's', 't', 'a', 'r'):
		return ".tar"
	}
	return ""
}

// isSquashfs says whether file starts with the squashfs magic.
func isSquashfs(file string) bool {
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	magic := make([]byte, 4)
	if _, err := io.ReadFull(f, magic); err != nil {
		return false
	}
	return bytes.Equal(magic, []byte("hsqs"))
}

// unpackRootfs fills dir/rootfs from a split image's rootfs file.
func unpackRootfs(ctx context.Context, file, dir string) error {
	rootfs := filepath.Join(dir, "rootfs")
	if isSquashfs(file) {
		out, err := helper(ctx, "unsquashfs", "-f", "-n", "-d", rootfs, file).CombinedOutput()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			return apierr.BadRequest("the image's squashfs rootfs is malformed (unsquashfs: %s)", lastLine(out))
		}
		return nil
	}
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return err
	}
	return untar(ctx, file, rootfs)
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// readMetadata parses dir/metadata.yaml and checks dir/rootfs is there.
func readMetadata(dir string) (api.ImageMetadata, error) {
	var md api.ImageMetadata
	raw, err := os.ReadFile(filepath.Join(dir, "metadata.yaml"))
	if err != nil {
		return md, apierr.BadRequest("the image has no metadata.yaml")
	}
	if err := yaml.Unmarshal(raw, &md); err != nil {
		return md, apierr.BadRequest("the image's metadata.yaml is invalid: %v", err)
	}
	if md.Architecture == "" {
		return md, apierr.BadRequest("the image's metadata.yaml has no architecture")
	}
	if fi, err := os.Stat(filepath.Join(dir, "rootfs")); err != nil || !fi.IsDir() {
		return md, apierr.BadRequest("the image has no rootfs/ directory")
	}
	return md, nil
}

// unpackUnified fills dir from a unified tarball (metadata.yaml + rootfs/).
func unpackUnified(ctx context.Context, file, dir string) error {
	if err := untar(ctx, file, dir); err != nil {
		return err
	}
	if err := checkImageTree(dir); err != nil {
		return err
	}
	_, err := readMetadata(dir)
	return err
}

// checkImageTree makes an unpacked image safe to use. Its top level must
// hold no links: a rootfs that is a link to a host directory would become a
// container's root, and a metadata.yaml that is one would make lodged read
// a host file. Device nodes in the rootfs are removed: the device cgroup
// keeps the container from opening them, but lodged, as host root, would
// reach the host device through one (LXD's unprivileged unpack cannot make
// them either; the container's /dev is made at start).
func checkImageTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			return apierr.BadRequest("the image's top level holds a symbolic link (%s): images must hold metadata.yaml, rootfs/ and templates/ themselves", e.Name())
		case e.Name() == "metadata.yaml" && !e.Type().IsRegular():
			return apierr.BadRequest("the image's metadata.yaml is not a regular file")
		case (e.Name() == "rootfs" || e.Name() == "templates") && !e.IsDir():
			return apierr.BadRequest("the image's %s is not a directory", e.Name())
		}
	}
	return dropDeviceNodes(filepath.Join(dir, "rootfs"))
}

// dropDeviceNodes removes character and block device nodes under root
// (WalkDir follows no links, so nothing outside root is visited).
func dropDeviceNodes(root string) error {
	if _, err := os.Lstat(root); errors.Is(err, fs.ErrNotExist) {
		return nil // readMetadata says what is missing
	}
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeDevice != 0 {
			return os.Remove(path)
		}
		return nil
	})
}

// unpackSplit fills dir from a metadata tarball and a rootfs file.
func unpackSplit(ctx context.Context, metaFile, rootfsFile, dir string) error {
	if err := untar(ctx, metaFile, dir); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "rootfs")); err == nil {
		return apierr.BadRequest("a split image's metadata tarball must not hold rootfs/")
	}
	if err := unpackRootfs(ctx, rootfsFile, dir); err != nil {
		return err
	}
	if err := checkImageTree(dir); err != nil {
		return err
	}
	_, err := readMetadata(dir)
	if err != nil {
		return fmt.Errorf("split image: %w", err)
	}
	return nil
}
