package container

import (
	"fmt"
	"github.com/lodge-project/lodge/internal/daemonid"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/capability"
	"github.com/opencontainers/cgroups"
	_ "github.com/opencontainers/cgroups/devices" // the device-rule manager (v1 and eBPF for v2)
	devconfig "github.com/opencontainers/cgroups/devices/config"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/instance/runtime"
)

// droppedCaps are the capabilities no container gets: loading kernel
// modules, setting the clock, raw I/O and the LSM overrides.
var droppedCaps = map[string]bool{
	"CAP_SYS_MODULE": true, "CAP_SYS_TIME": true, "CAP_SYS_RAWIO": true,
	"CAP_MAC_ADMIN": true, "CAP_MAC_OVERRIDE": true, "CAP_WAKE_ALARM": true,
}

// deniedSyscalls fail with EPERM, as in LXD's default seccomp policy.
var deniedSyscalls = []string{
	"kexec_load", "kexec_file_load", "open_by_handle_at", "init_module", "finit_module", "delete_module",
	"acct", "swapon", "swapoff", "iopl", "ioperm", "syslog",
}

// capabilities is every capability the host lets us hand out (our own
// bounding set: some hosts lack CAP_SYS_RESOURCE) minus droppedCaps.
func capabilities() ([]string, error) {
	self, err := capability.NewPid2(0)
	if err != nil {
		return nil, err
	}
	if err := self.Load(); err != nil {
		return nil, err
	}
	var caps []string
	for _, c := range capability.ListKnown() {
		name := "CAP_" + strings.ToUpper(c.String())
		if self.Get(capability.BOUNDING, c) && !droppedCaps[name] {
			caps = append(caps, name)
		}
	}
	return caps, nil
}

// DefaultDir is lodged's state directory unless told otherwise.
const DefaultDir = daemonid.DefaultDir

// CgroupParent is the cgroup (below each hierarchy's root) that holds the
// containers of the daemon whose state directory is stateDir: /lodge for
// the default one, /lodge-<hash of the directory> for any other, so that
// two daemons on one host never share a container's cgroup.
func CgroupParent(stateDir string) string {
	return "/" + daemonid.Name(daemonid.Of(stateDir), "lodge", "-")
}

// buildConfig turns a Spec into libcontainer's configuration.
func buildConfig(s runtime.Spec, cgroupParent string) (*configs.Config, error) {
	caps, err := capabilities()
	if err != nil {
		return nil, fmt.Errorf("read capability bounding set: %w", err)
	}
	const noExecSuidDev = unix.MS_NOEXEC | unix.MS_NOSUID | unix.MS_NODEV
	errno := uint(unix.EPERM)
	seccomp := &configs.Seccomp{DefaultAction: configs.Allow, Architectures: []string{"amd64", "x86", "x32"}}
	for _, name := range deniedSyscalls {
		seccomp.Syscalls = append(seccomp.Syscalls, &configs.Syscall{Name: name, Action: configs.Errno, ErrnoRet: &errno})
	}

	devs := append([]*devconfig.Device{}, specconv.AllowedDevices...)
	devs = append(devs, extraDevices()...)
	var rules []*devconfig.Rule
	for _, d := range devs {
		rules = append(rules, &d.Rule)
	}
	for _, u := range s.UnixDevs {
		r := unixRule(u)
		rules = append(rules, &r)
	}
	res := *cgroupResources(s.Limits)
	res.Devices = rules

	cfg := &configs.Config{
		Rootfs:   s.Rootfs,
		Hostname: s.Name,
		Capabilities: &configs.Capabilities{
			Bounding: caps, Effective: caps, Permitted: caps,
		},
		Namespaces: configs.Namespaces{
			{Type: configs.NEWNS}, {Type: configs.NEWUTS}, {Type: configs.NEWIPC},
			{Type: configs.NEWPID}, {Type: configs.NEWNET}, {Type: configs.NEWCGROUP},
		},
		Cgroups: &cgroups.Cgroup{Path: cgroupParent + "/" + s.Name, Resources: &res},
		Devices: devs,
		Mounts: []*configs.Mount{
			{Source: "proc", Destination: "/proc", Device: "proc", Flags: noExecSuidDev},
			// Read-only, as LXC does: a container manages no devices, and
			// systemd-networkd (like other tools) takes a read-only /sys as
			// "in a container" and stops waiting for udev.
			{Source: "sysfs", Destination: "/sys", Device: "sysfs", Flags: noExecSuidDev | unix.MS_RDONLY},
			{Source: "tmpfs", Destination: "/dev", Device: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_STRICTATIME, Data: "mode=755,size=65536k"},
			{Source: "devpts", Destination: "/dev/pts", Device: "devpts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "newinstance,ptmxmode=0666,mode=0620,gid=5"},
			{Source: "shm", Destination: "/dev/shm", Device: "tmpfs", Flags: noExecSuidDev, Data: "mode=1777,size=65536k"},
			{Source: "mqueue", Destination: "/dev/mqueue", Device: "mqueue", Flags: noExecSuidDev},
			{Source: "cgroup", Destination: "/sys/fs/cgroup", Device: "cgroup", Flags: noExecSuidDev},
		},
		MaskPaths:       []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware", "/proc/sysrq-trigger"},
		ReadonlyPaths:   []string{"/proc/irq", "/proc/bus"},
		Networks:        []*configs.Network{{Type: "loopback", Address: "127.0.0.1/0", Gateway: "localhost"}},
		Seccomp:         seccomp,
		Sysctl:          s.Sysctls,
		RootPropagation: unix.MS_SLAVE | unix.MS_REC,
	}
	cfg.Mounts = append(cfg.Mounts, lxcfsMounts()...)
	for _, disk := range s.Disks {
		cfg.Mounts = append(cfg.Mounts, diskMount(disk, s.IDMap))
	}
	for _, u := range s.UnixDevs {
		cfg.Mounts = append(cfg.Mounts, unixMount(u))
	}
	if s.IDMap != nil {
		cfg.Namespaces = append(cfg.Namespaces, configs.Namespace{Type: configs.NEWUSER})
		cfg.UIDMappings, cfg.GIDMappings = idMappings(s.IDMap)
	} else {
		// A privileged container shares the host's ids: keep its hands off
		// the host's kernel tunables.
		cfg.ReadonlyPaths = append(cfg.ReadonlyPaths, "/proc/sys")
	}
	if s.Nesting {
		// Nested container managers need to mount their own proc and sysfs.
		cfg.MaskPaths = nil
		cfg.ReadonlyPaths = nil
		for _, m := range cfg.Mounts {
			if m.Destination == "/sys" {
				m.Flags &^= unix.MS_RDONLY
			}
		}
	}
	// Both run once the namespaces and cgroups exist, before init starts:
	// NICs are there when init's network scripts look for them.
	cfg.Hooks = configs.Hooks{configs.CreateRuntime: configs.HookList{delegateHook(s.IDMap, cgroupParent), nicHook(s.NICs)}}
	return cfg, nil
}

// extraDevices are the nodes a system container expects beyond runc's
// defaults: fuse and tun, as LXD gives them.
func extraDevices() []*devconfig.Device {
	var out []*devconfig.Device
	for _, d := range []struct {
		path         string
		major, minor int64
	}{{"/dev/fuse", 10, 229}, {"/dev/net/tun", 10, 200}} {
		if _, err := os.Stat(d.path); err != nil {
			continue
		}
		out = append(out, &devconfig.Device{
			Rule: devconfig.Rule{Type: devconfig.CharDevice, Major: d.major, Minor: d.minor, Permissions: "rwm", Allow: true},
			Path: d.path, FileMode: 0o666, Uid: 0, Gid: 0,
		})
	}
	return out
}

// isSystemd says whether the rootfs boots systemd, which wants SIGRTMIN+3
// to shut down instead of SIGPWR.
func isSystemd(rootfs string) bool {
	target, err := os.Readlink(filepath.Join(rootfs, "sbin", "init"))
	if err != nil {
		target, err = os.Readlink(filepath.Join(rootfs, "usr", "sbin", "init"))
	}
	return err == nil && strings.Contains(target, "systemd")
}

// idMappings turns a map (with its raw.idmap holes) into uid_map and
// gid_map lines.
func idMappings(m *idmap.Map) (uids, gids []configs.IDMap) {
	for _, r := range m.Ranges(false) {
		uids = append(uids, configs.IDMap{ContainerID: int64(r.Container), HostID: int64(r.Host), Size: int64(r.Size)})
	}
	for _, r := range m.Ranges(true) {
		gids = append(gids, configs.IDMap{ContainerID: int64(r.Container), HostID: int64(r.Host), Size: int64(r.Size)})
	}
	return uids, gids
}
