package idmap

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// OpenUserns returns an fd of a new user namespace holding m, for idmapped
// mounts made while no container is running. A Go program cannot unshare
// a user namespace itself (it is multithreaded), so a child is cloned into
// one; it is traced, which stops it at its exec before any of its code
// runs, and killed once its namespace is open.
func OpenUserns(m *Map) (int, error) {
	toSys := func(gid bool) []syscall.SysProcIDMap {
		var out []syscall.SysProcIDMap
		for _, r := range m.Ranges(gid) {
			out = append(out, syscall.SysProcIDMap{ContainerID: int(r.Container), HostID: int(r.Host), Size: int(r.Size)})
		}
		return out
	}
	attr := &syscall.ProcAttr{Sys: &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		Ptrace:      true,
		UidMappings: toSys(false),
		GidMappings: toSys(true),
		Pdeathsig:   syscall.SIGKILL,
	}}
	pid, err := syscall.ForkExec("/proc/self/exe", []string{"lodge-userns"}, attr)
	if err != nil {
		return -1, fmt.Errorf("make a user namespace for %d:%d: %w", m.HostUID, m.HostGID, err)
	}
	defer func() {
		_ = unix.Kill(pid, unix.SIGKILL)
		var ws unix.WaitStatus
		for {
			got, err := unix.Wait4(pid, &ws, unix.WALL, nil)
			if err != nil || (got == pid && (ws.Exited() || ws.Signaled())) {
				return
			}
		}
	}()
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/user", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open user namespace: %w", err)
	}
	return fd, nil
}
