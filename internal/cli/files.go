package cli

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/lodge-project/lodge/client"
)

func cmdFile() *cobra.Command {
	cmd := &cobra.Command{Use: "file", Short: "Move files in and out of instances"}
	cmd.AddCommand(cmdFilePush(), cmdFilePull(), cmdFileDelete(), cmdFileEdit())
	return cmd
}

// splitTarget reads NAME/PATH.
func splitTarget(arg string) (string, string, error) {
	name, p, ok := strings.Cut(arg, "/")
	if !ok || name == "" {
		return "", "", fmt.Errorf("%q: give the instance and the path as NAME/PATH", arg)
	}
	return name, "/" + p, nil
}

// mkdirParents makes every directory above p inside the instance.
func mkdirParents(c *client.Client, name, p string, uid, gid int64) error {
	dir := path.Dir(p)
	if dir == "/" || dir == "." {
		return nil
	}
	if err := mkdirParents(c, name, dir, uid, gid); err != nil {
		return err
	}
	return c.PutFile(name, dir, "directory", uid, gid, 0o755, false, nil)
}

func cmdFilePush() *cobra.Command {
	var recursive, parents bool
	var uid, gid int64
	var mode string
	cmd := &cobra.Command{
		Use:   "push SOURCE... NAME/PATH",
		Short: "Copy local files into an instance",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := connect()
			name, dest, err := splitTarget(args[len(args)-1])
			if err != nil {
				return err
			}
			sources := args[:len(args)-1]
			var forced uint32
			if mode != "" {
				var m uint32
				if _, err := fmt.Sscanf(mode, "%o", &m); err != nil {
					return fmt.Errorf("--mode %q: use octal, e.g. 0644", mode)
				}
				forced = m
			}
			intoDir := strings.HasSuffix(dest, "/") || len(sources) > 1 || recursive
			if parents {
				p := dest
				if intoDir {
					p = path.Join(dest, "x")
				}
				if err := mkdirParents(c, name, p, uid, gid); err != nil {
					return err
				}
			}
			for _, src := range sources {
				target := dest
				if intoDir {
					target = path.Join(dest, filepath.Base(src))
				}
				if err := pushPath(c, name, src, target, recursive, uid, gid, forced); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "push directories recursively")
	cmd.Flags().BoolVarP(&parents, "create-dirs", "p", false, "create missing parent directories")
	cmd.Flags().Int64Var(&uid, "uid", -1, "owner inside the instance (default: root)")
	cmd.Flags().Int64Var(&gid, "gid", -1, "group inside the instance (default: root)")
	cmd.Flags().StringVar(&mode, "mode", "", "mode of the files (octal); default: the source's")
	return cmd
}

func pushPath(c *client.Client, name, src, target string, recursive bool, uid, gid int64, forced uint32) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		dst := path.Join(target, filepath.ToSlash(rel))
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		mode := uint32(info.Mode().Perm())
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			mode = st.Mode & 0o7777
		}
		if forced != 0 {
			mode = forced
		}
		switch {
		case d.IsDir():
			if !recursive {
				return fmt.Errorf("%s is a directory: use -r", p)
			}
			return c.PutFile(name, dst, "directory", uid, gid, mode|0o700, false, nil)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return c.PutFile(name, dst, "symlink", uid, gid, 0, false, strings.NewReader(target))
		case d.Type().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			return c.PutFile(name, dst, "file", uid, gid, mode, false, f)
		}
		return nil
	})
}

func cmdFilePull() *cobra.Command {
	var recursive, parents bool
	cmd := &cobra.Command{
		Use:   "pull NAME/PATH... DEST",
		Short: "Copy files out of an instance (DEST - for stdout)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := connect()
			dest := args[len(args)-1]
			if parents && dest != "-" {
				if err := os.MkdirAll(dest, 0o755); err != nil {
					return err
				}
			}
			for _, src := range args[:len(args)-1] {
				name, p, err := splitTarget(src)
				if err != nil {
					return err
				}
				target := dest
				if st, err := os.Stat(dest); err == nil && st.IsDir() {
					target = filepath.Join(dest, path.Base(p))
				}
				if err := pullPath(c, cmd.OutOrStdout(), name, p, target, recursive); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "pull directories recursively")
	cmd.Flags().BoolVarP(&parents, "create-dirs", "p", false, "create the destination directory")
	return cmd
}

func pullPath(c *client.Client, stdout io.Writer, name, p, target string, recursive bool) error {
	return pullPathFollowing(c, stdout, name, p, target, recursive, 0)
}

// pullPathFollowing is pullPath, hops links deep already.
func pullPathFollowing(c *client.Client, stdout io.Writer, name, p, target string, recursive bool, hops int) error {
	info, body, err := c.GetFile(name, p)
	if err != nil {
		return err
	}
	switch info.Type {
	case "directory":
		if !recursive {
			return fmt.Errorf("%s is a directory: use -r", p)
		}
		if err := os.MkdirAll(target, os.FileMode(info.Mode&0o777)|0o700); err != nil {
			return err
		}
		for _, e := range info.Entries {
			if err := pullPathFollowing(c, stdout, name, path.Join(p, e), filepath.Join(target, e), true, hops); err != nil {
				return err
			}
		}
		return nil
	case "symlink":
		defer body.Close()
		link, _ := io.ReadAll(body)
		if target == "-" {
			// To stdout, as lxc does: what the link leads to, inside the
			// instance (the daemon resolves the path there).
			to := string(link)
			if !strings.HasPrefix(to, "/") {
				to = path.Join(path.Dir(p), to)
			}
			if hops++; hops > 40 {
				return fmt.Errorf("%s: too many levels of symbolic links", p)
			}
			return pullPathFollowing(c, stdout, name, to, target, recursive, hops)
		}
		_ = os.Remove(target)
		return os.Symlink(string(link), target)
	}
	defer body.Close()
	if target == "-" {
		_, err := io.Copy(stdout, body)
		return err
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(info.Mode&0o777))
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func cmdFileDelete() *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME/PATH...",
		Short: "Delete files in an instance",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := connect()
			for _, a := range args {
				name, p, err := splitTarget(a)
				if err != nil {
					return err
				}
				if _, _, err := c.Query("DELETE", "/1.0/instances/"+name+"/files?path="+p, nil, ""); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func cmdFileEdit() *cobra.Command {
	return &cobra.Command{
		Use:   "edit NAME/PATH",
		Short: "Edit a file of an instance in $EDITOR",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := connect()
			name, p, err := splitTarget(args[0])
			if err != nil {
				return err
			}
			info, body, err := c.GetFile(name, p)
			if err != nil {
				return err
			}
			content, _ := io.ReadAll(body)
			body.Close()
			edited, err := editText(content)
			if err != nil {
				return err
			}
			return c.PutFile(name, p, "file", info.UID, info.GID, info.Mode, false, bytes.NewReader(edited))
		},
	}
}

// editText runs $EDITOR (or vi) on content; without a terminal it reads
// the new content from stdin, as lxc does.
func editText(content []byte) ([]byte, error) {
	if !isTerminal(os.Stdin) {
		return io.ReadAll(os.Stdin)
	}
	f, err := os.CreateTemp("", "lodge-edit-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(content); err != nil {
		return nil, err
	}
	f.Close()
	editor := os.Getenv("VISUAL")
	if editor == "" {
		editor = os.Getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	cmd := exec.Command("sh", "-c", editor+` "$1"`, "editor", f.Name())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("editor: %w", err)
	}
	return os.ReadFile(f.Name())
}
