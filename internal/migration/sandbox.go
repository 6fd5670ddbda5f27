package migration

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The roles lodged's binary is re-executed for (Reexec).
const (
	sandboxRole = "migrate-sandbox"
	netcatRole  = "migrate-netcat"
)

// The sandbox's view: the volume at /v, the host's /usr read-only, a
// /dev/null, and lodged's binary at /lodge (for rsync's remote shell).
const (
	sandboxVolume = "/v"
	sandboxSelf   = "/lodge"
)

// Reexec runs the role lodged's binary was re-executed for, if it is one
// of this package's, and says whether it was. lodged calls it first thing.
func Reexec(args []string) bool {
	if len(args) < 2 {
		return false
	}
	switch args[1] {
	case sandboxRole:
		err := runSandbox(args[2:])
		fmt.Fprintln(os.Stderr, "lodge migration sandbox:", err)
		os.Exit(127)
	case netcatRole:
		if err := runNetcat(); err != nil {
			fmt.Fprintln(os.Stderr, "lodge migration netcat:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	return false
}

// sandboxed is rsync run in a sandbox over the tree at dir: its own
// mount namespace whose root holds only the tree (read-only for a
// sender), /usr read-only and /dev/null; a capability bounding set of
// file ownership and permissions only; no new privileges. What the other
// end sends is untrusted: an rsync receiver follows the paths and links
// it is given, and here they can only lead inside the tree. rootfs, when
// given, is mounted at the tree's rootfs/: a receiver then writes the
// instance's files there and everything else in dir, a staging folder.
func sandboxed(ctx context.Context, writable bool, dir, rootfs string, rsyncArgs []string) *exec.Cmd {
	mode := "ro"
	if writable {
		mode = "rw"
	}
	if rootfs == "" {
		rootfs = "-"
	}
	cmd := exec.CommandContext(ctx, "/proc/self/exe", append([]string{sandboxRole, mode, dir, rootfs}, rsyncArgs...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	return cmd
}

// keptCaps are what rsync needs to write a tree of any owner: a receiver
// sets owners, modes and file capabilities, and makes device nodes
// (removed after, see backup.CheckTree); a sender reads any file.
var keptCaps = map[int]bool{
	unix.CAP_CHOWN: true, unix.CAP_DAC_OVERRIDE: true, unix.CAP_DAC_READ_SEARCH: true,
	unix.CAP_FOWNER: true, unix.CAP_FSETID: true, unix.CAP_MKNOD: true, unix.CAP_SETFCAP: true,
}

// runSandbox is the sandbox's first process: args are the mode ("ro",
// "rw"), the tree, the rootfs mounted in it ("-": none) and rsync's
// arguments. It returns only on failure.
func runSandbox(args []string) error {
	if len(args) < 3 {
		return fmt.Errorf("usage: %s ro|rw DIR ROOTFS|- RSYNC-ARGS", sandboxRole)
	}
	// Capabilities and the exec below are per thread.
	runtime.LockOSThread()
	mode, dir, rootfs, rsyncArgs := args[0], args[1], args[2], args[3:]
	if rootfs == "-" {
		rootfs = ""
	}
	last, err := lastCap()
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := buildRoot(dir, rootfs, self, mode == "ro"); err != nil {
		return err
	}
	if err := unix.Chdir(sandboxVolume); err != nil {
		return err
	}
	for c := 0; c <= last; c++ {
		if !keptCaps[c] {
			if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
				return fmt.Errorf("drop capability %d: %w", c, err)
			}
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no new privileges: %w", err)
	}
	return unix.Exec("/usr/bin/rsync", append([]string{"rsync"}, rsyncArgs...), os.Environ())
}

func lastCap() (int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// buildRoot makes the sandbox's root on a tmpfs over /tmp (this mount
// namespace's own) and pivots into it.
func buildRoot(dir, rootfs, self string, readOnly bool) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("private mounts: %w", err)
	}
	// The volume and the binary may be below /tmp, which the root hides:
	// they are held open and bound from their descriptors.
	held := map[string]string{}
	paths := []string{dir, self}
	if rootfs != "" {
		paths = append(paths, rootfs)
	}
	for _, p := range paths {
		fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", p, err)
		}
		defer unix.Close(fd)
		held[p] = fmt.Sprintf("/proc/self/fd/%d", fd)
	}
	const root = "/tmp"
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=1m"); err != nil {
		return fmt.Errorf("sandbox root: %w", err)
	}
	for _, d := range []string{"usr", "v", "dev", ".old"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	for _, f := range []string{"dev/null", "lodge"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o755); err != nil {
			return err
		}
	}
	for _, l := range []string{"bin", "lib", "lib64", "sbin"} {
		if err := os.Symlink("usr/"+l, filepath.Join(root, l)); err != nil {
			return err
		}
	}
	const ro = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV
	binds := []struct {
		from, to string
		flags    uintptr
	}{
		{"/usr", "usr", ro},
		{"/dev/null", "dev/null", unix.MS_NOSUID | unix.MS_NOEXEC},
		{held[self], "lodge", unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV},
		{held[dir], "v", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
	}
	if readOnly {
		binds[3].flags |= unix.MS_RDONLY
	}
	if rootfs != "" {
		binds = append(binds, struct {
			from, to string
			flags    uintptr
		}{held[rootfs], "v/rootfs", binds[3].flags})
	}
	for _, b := range binds {
		to := filepath.Join(root, b.to)
		if err := unix.Mount(b.from, to, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", b.from, err)
		}
		if err := unix.Mount("", to, "", unix.MS_BIND|unix.MS_REMOUNT|b.flags, ""); err != nil {
			return fmt.Errorf("remount %s: %w", b.from, err)
		}
	}
	if err := unix.Chdir(root); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", ".old"); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Unmount("/.old", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the host's root: %w", err)
	}
	if err := os.Remove("/.old"); err != nil {
		return err
	}
	return unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, "")
}

// runNetcat is rsync's remote shell in a sending sandbox: it joins rsync
// to the socket lodged handed down as fd 3, which carries the stream to
// the migration websocket.
func runNetcat() error {
	sock := os.NewFile(3, "migration socket")
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(sock, os.Stdin)
		_ = unix.Shutdown(3, unix.SHUT_WR)
		done <- err
	}()
	if _, err := io.Copy(os.Stdout, sock); err != nil {
		return err
	}
	_ = os.Stdout.Close()
	return nil
}
