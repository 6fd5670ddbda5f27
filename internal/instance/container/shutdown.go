package container

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// A clean stop waits for init to exit. Some inits pause for fixed times
// while shutting down: busybox's waits a second after its SIGTERM to
// everyone and another after its SIGKILL. Once every other process is gone
// those pauses wait for nothing. So the wait also ends when init, which
// had company when asked to stop, is the container's only live process
// and has not run at all for loneIdle; the container's filesystem is then
// synced (what such an init does next) and init killed. An init that is
// alone from the start (a single-process container) is always waited for.
const loneIdle = 150 * time.Millisecond

// shutdownWatch reads what a stop needs to see of a container.
type shutdownWatch struct {
	pid       int
	cgroup    string // the container's cgroup directory, with its children
	company   bool   // init was not alone when the stop began
	lastRun   uint64
	idleSince time.Time
}

func newShutdownWatch(pid int, cgroupPaths map[string]string) *shutdownWatch {
	w := &shutdownWatch{pid: pid}
	if p, ok := cgroupPaths["pids"]; ok {
		w.cgroup = p
	} else if p, ok := cgroupPaths[""]; ok {
		w.cgroup = p
	}
	if n, err := w.liveProcesses(); err == nil && n > 1 {
		w.company = true
	}
	return w
}

// liveProcesses counts the container's processes that are not zombies
// (an init pausing has not reaped the children it killed yet).
func (w *shutdownWatch) liveProcesses() (int, error) {
	if w.cgroup == "" {
		return 0, fmt.Errorf("no cgroup to count processes in")
	}
	n := 0
	err := filepath.WalkDir(w.cgroup, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		data, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
		if err != nil {
			return err
		}
		for _, pid := range strings.Fields(string(data)) {
			if _, zombie, err := procStartTime(atoi(pid)); err == nil && !zombie {
				n++
			}
		}
		return nil
	})
	return n, err
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// runTime is the nanoseconds init has run (first field of schedstat).
func (w *shutdownWatch) runTime() (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", w.pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0, fmt.Errorf("empty schedstat")
	}
	return strconv.ParseUint(f[0], 10, 64)
}

// done says whether init is alone and idle long enough to count as shut down.
func (w *shutdownWatch) done(now time.Time) bool {
	if !w.company {
		return false
	}
	n, err := w.liveProcesses()
	if err != nil || n != 1 {
		w.idleSince = time.Time{}
		return false
	}
	run, err := w.runTime()
	if err != nil {
		return false
	}
	if w.idleSince.IsZero() || run != w.lastRun {
		w.lastRun, w.idleSince = run, now
		return false
	}
	return now.Sub(w.idleSince) >= loneIdle
}

// syncRootfs writes back the filesystem holding a container's rootfs.
func syncRootfs(rootfs string) error {
	fd, err := unix.Open(rootfs, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Syncfs(fd)
}
