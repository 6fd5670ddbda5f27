package container

import (
	"os"
	"path/filepath"

	"github.com/opencontainers/runc/libcontainer/configs"
	"golang.org/x/sys/unix"
)

// lxcfsDir is where Debian's lxcfs mounts its views.
const lxcfsDir = "/var/lib/lxcfs"

// lxcfsProcFiles are the /proc files lxcfs answers per container; runc
// takes binds over these (and no other /proc files).
var lxcfsProcFiles = []string{"cpuinfo", "diskstats", "loadavg", "meminfo", "slabinfo", "stat", "swaps", "uptime"}

// lxcfsRunning says whether lxcfs is mounted at lxcfsDir: one statfs, so
// that each start finds out, and a container started after lxcfs came up
// gets its views.
func lxcfsRunning() bool {
	var st unix.Statfs_t
	return unix.Statfs(lxcfsDir, &st) == nil && st.Type == unix.FUSE_SUPER_MAGIC
}

// lxcfsMounts are the binds that give a container lxcfs's views of
// /proc and of /sys/devices/system/cpu/online, as LXC's lxcfs hook makes
// them (the hook binds each entry of the cpu folder; online is the one
// sysconf and nproc --all read):
// lxcfs answers each read with the reading process's cgroup limits, so
// free, top and nproc inside see the container's memory and CPUs. None
// when lxcfs is not running.
func lxcfsMounts() []*configs.Mount {
	if !lxcfsRunning() {
		return nil
	}
	const flags = unix.MS_BIND | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	var out []*configs.Mount
	for _, f := range lxcfsProcFiles {
		src := filepath.Join(lxcfsDir, "proc", f)
		if _, err := os.Stat(src); err != nil {
			continue // an older lxcfs lacks some
		}
		out = append(out, &configs.Mount{Source: src, Destination: "/proc/" + f, Device: "bind", Flags: flags})
	}
	cpu := filepath.Join(lxcfsDir, "sys/devices/system/cpu")
	if _, err := os.Stat(filepath.Join(cpu, "online")); err == nil {
		out = append(out, &configs.Mount{Source: filepath.Join(cpu, "online"), Destination: "/sys/devices/system/cpu/online", Device: "bind", Flags: flags | unix.MS_RDONLY})
	}
	return out
}
