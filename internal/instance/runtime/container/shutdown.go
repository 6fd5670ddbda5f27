package container

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lodge-project/lodge/internal/procfs"
	"golang.org/x/sys/unix"
)

// A clean stop waits for init to exit. Some inits pause for fixed times
// while shutting down: busybox's sends SIGTERM to everyone, waits a
// second, sends SIGKILL, waits another. Those pauses wait for nothing once
// nothing left can act on the SIGTERM. So the wait also ends when init,
// which had company when asked to stop, and everything else in the
// container have not run at all for loneIdle, and either init is alone or
// it is visibly shutting down (its signal masks or handlers changed since
// the stop signal) and every other process ignores SIGTERM (an interactive
// shell does): init would only SIGKILL those after its pause. The
// container's filesystem is then synced (what such an init does next) and
// init killed. A single-process container is always waited for.
const loneIdle = 150 * time.Millisecond

// shutdownWatch reads what a stop needs to see of a container.
type shutdownWatch struct {
	pid          int
	cgroup       string // the container's cgroup directory, with its children
	company      bool   // init was not alone when the stop began
	initSignals  string // init's blocked, ignored and caught signals then
	shuttingDown bool
	lastRun      string
	idleSince    time.Time
	ignoring     int // processes besides init, all ignoring SIGTERM, when done
}

func newShutdownWatch(pid int, cgroupPaths map[string]string) *shutdownWatch {
	w := &shutdownWatch{pid: pid}
	if p, ok := cgroupPaths["pids"]; ok {
		w.cgroup = p
	} else if p, ok := cgroupPaths[""]; ok {
		w.cgroup = p
	}
	if procs, err := w.liveProcesses(); err == nil && len(procs) > 1 {
		w.company = true
	}
	w.initSignals = signalMasks(pid)
	return w
}

// liveProcesses lists the container's processes that are not zombies (an
// init pausing has not reaped the children it killed yet).
func (w *shutdownWatch) liveProcesses() ([]int, error) {
	if w.cgroup == "" {
		return nil, fmt.Errorf("no cgroup to count processes in")
	}
	var live []int
	err := filepath.WalkDir(w.cgroup, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		data, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
		if err != nil {
			return err
		}
		for _, field := range strings.Fields(string(data)) {
			pid := atoi(field)
			if _, zombie, err := procfs.StartTime(pid); err == nil && !zombie {
				live = append(live, pid)
			}
		}
		return nil
	})
	return live, err
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// procStatus reads the named fields of /proc/<pid>/status.
func procStatus(pid int, names ...string) map[string]string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		for _, n := range names {
			if k == n {
				out[k] = strings.TrimSpace(v)
			}
		}
	}
	return out
}

// signalMasks is a process's blocked, ignored and caught signal sets.
func signalMasks(pid int) string {
	st := procStatus(pid, "SigBlk", "SigIgn", "SigCgt")
	if st == nil {
		return ""
	}
	return st["SigBlk"] + " " + st["SigIgn"] + " " + st["SigCgt"]
}

// executable names the program a process runs: the device and inode of
// its /proc/PID/exe and its comm, which an exec sets to the file's name (a
// script and what it execs may share an interpreter: busybox's sh and
// init). "" when it cannot be read.
func executable(pid int) string {
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/exe", pid), &st); err != nil {
		return ""
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%d:%d:%s", st.Dev, st.Ino, strings.TrimSpace(string(comm)))
}

// ignoresTerm says whether a process has SIGTERM set to be ignored.
func ignoresTerm(pid int) bool {
	mask, err := strconv.ParseUint(procStatus(pid, "SigIgn")["SigIgn"], 16, 64)
	return err == nil && mask&(1<<(unix.SIGTERM-1)) != 0
}

// runTimes is the nanoseconds each process has run (first field of
// schedstat), as one string to compare between polls.
func runTimes(pids []int) (string, error) {
	var b strings.Builder
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
		if err != nil {
			return "", err
		}
		f := strings.Fields(string(data))
		if len(f) == 0 {
			return "", fmt.Errorf("empty schedstat of %d", pid)
		}
		fmt.Fprintf(&b, "%d:%s ", pid, f[0])
	}
	return b.String(), nil
}

// settled says whether nothing but init is left that could still act on
// the stop: init is alone, or it is shutting down and the others ignore
// SIGTERM.
func (w *shutdownWatch) settled(live []int) bool {
	if len(live) == 1 && live[0] == w.pid {
		return true
	}
	if !w.shuttingDown {
		now := signalMasks(w.pid)
		w.shuttingDown = now != "" && w.initSignals != "" && now != w.initSignals
	}
	if !w.shuttingDown {
		return false
	}
	for _, pid := range live {
		if pid != w.pid && !ignoresTerm(pid) {
			return false
		}
	}
	return true
}

// done says whether the container is settled and idle long enough to
// count as shut down.
func (w *shutdownWatch) done(now time.Time) bool {
	if !w.company {
		return false
	}
	live, err := w.liveProcesses()
	if err != nil || !w.settled(live) {
		w.idleSince = time.Time{}
		return false
	}
	run, err := runTimes(live)
	if err != nil {
		return false
	}
	if w.idleSince.IsZero() || run != w.lastRun {
		w.lastRun, w.idleSince = run, now
		return false
	}
	w.ignoring = len(live) - 1
	return now.Sub(w.idleSince) >= loneIdle
}
