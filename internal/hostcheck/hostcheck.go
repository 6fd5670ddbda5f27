// Package hostcheck finds out what the kernel and host offer Lodge:
// namespaces, cgroups and their controllers, filesystems, security
// modules and the tools Lodge runs. `lodge check` prints it, as
// lxc-checkconfig does; lodged raises a warning for each missing part a
// feature needs.
package hostcheck

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Item is one thing checked.
type Item struct {
	Area string // the heading it is listed under
	Name string
	OK   bool
	// Detail says what was found (a version, a path) or why it is missing.
	Detail string
	// For says what Lodge uses it for: what does not work without it.
	For string
	// Required items are ones Lodge cannot run containers without.
	Required bool
}

// Report is everything checked.
type Report struct {
	Kernel string
	// CgroupVersion is "v1", "v1 (hybrid)" or "v2".
	CgroupVersion string
	Items         []Item
}

// Missing is the items that are not there.
func (r Report) Missing() []Item {
	var out []Item
	for _, it := range r.Items {
		if !it.OK {
			out = append(out, it)
		}
	}
	return out
}

// areas is the order items are listed in.
var areas = []string{"Namespaces", "Control groups", "Kernel", "Filesystems", "Security", "Tools"}

// sortByArea groups the items by area, in areas' order, keeping the
// order within each.
func (r *Report) sortByArea() {
	sort.SliceStable(r.Items, func(i, j int) bool {
		return slices.Index(areas, r.Items[i].Area) < slices.Index(areas, r.Items[j].Area)
	})
}

// Find is the item named name, if checked.
func (r Report) Find(name string) (Item, bool) {
	for _, it := range r.Items {
		if it.Name == name {
			return it, true
		}
	}
	return Item{}, false
}

// Host is where the checks look; tests point it at a fake tree.
type Host struct {
	// Root prefixes /proc and /sys paths ("" for the real ones).
	Root string
	// LookPath finds a program (exec.LookPath when nil).
	LookPath func(string) (string, error)
}

func (h Host) path(p string) string { return filepath.Join(h.Root, p) }

func (h Host) exists(p string) bool {
	_, err := os.Stat(h.path(p))
	return err == nil
}

func (h Host) read(p string) string {
	data, _ := os.ReadFile(h.path(p))
	return strings.TrimSpace(string(data))
}

func (h Host) lookPath(name string) (string, error) {
	if h.LookPath != nil {
		return h.LookPath(name)
	}
	return exec.LookPath(name)
}

// Check runs the checks that only read the host: no probe mounts, no
// programs run. Probes (Probe) add the rest.
func (h Host) Check() Report {
	r := Report{Kernel: kernelRelease()}
	r.Items = append(r.Items, h.namespaces()...)
	var cg []Item
	r.CgroupVersion, cg = h.cgroups()
	r.Items = append(r.Items, cg...)
	r.Items = append(r.Items, h.kernelFeatures()...)
	r.Items = append(r.Items, h.tools()...)
	return r
}

func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func (h Host) namespaces() []Item {
	var out []Item
	for _, ns := range []struct{ file, name, use string }{
		{"user", "user namespaces", "unprivileged containers (the default)"},
		{"mnt", "mount namespaces", "every container"},
		{"pid", "PID namespaces", "every container"},
		{"net", "network namespaces", "every container"},
		{"uts", "UTS namespaces", "every container (its hostname)"},
		{"ipc", "IPC namespaces", "every container"},
		{"cgroup", "cgroup namespaces", "systemd inside containers"},
	} {
		it := Item{Area: "Namespaces", Name: ns.name, For: ns.use, Required: true, OK: h.exists("/proc/self/ns/" + ns.file)}
		if !it.OK {
			it.Detail = "/proc/self/ns/" + ns.file + " is missing"
		}
		if ns.file == "user" && it.OK {
			if n, err := strconv.Atoi(h.read("/proc/sys/user/max_user_namespaces")); err == nil && n == 0 {
				it.OK, it.Detail = false, "user.max_user_namespaces is 0"
			}
		}
		out = append(out, it)
	}
	return out
}

// controller is a cgroup controller and what Lodge uses it for.
type controller struct {
	v1, v2 string // its name under each version ("" where it has none)
	use    string
}

var controllers = []controller{
	{"cpu", "cpu", "limits.cpu.allowance, limits.cpu.priority"},
	{"cpuacct", "cpu", "CPU usage in state and metrics"},
	{"cpuset", "cpuset", "limits.cpu"},
	{"memory", "memory", "limits.memory, memory usage"},
	{"pids", "pids", "limits.processes"},
	{"blkio", "io", "limits.disk.priority, limits.read/write, disk metrics"},
	{"devices", "", "unix-char and unix-block devices (eBPF under v2)"},
	{"freezer", "", "lodge pause, and consistent copies of running containers (cgroup.freeze under v2)"},
}

// ControllerItem names the item of a cgroup controller.
func ControllerItem(v1 string) string { return "cgroup " + v1 + " controller" }

// Item names of the checks lodged warns about.
const (
	SwapAccounting = "memory swap accounting"
	IOWeight       = "I/O weights"
	AppArmor       = "AppArmor"
	LXCFS          = "lxcfs"
)

func (h Host) cgroups() (string, []Item) {
	const area = "Control groups"
	var out []Item
	if h.exists("/sys/fs/cgroup/cgroup.controllers") {
		have := map[string]bool{}
		for _, c := range strings.Fields(h.read("/sys/fs/cgroup/cgroup.controllers")) {
			have[c] = true
		}
		for _, c := range controllers {
			ok := c.v2 == "" || have[c.v2]
			it := Item{Area: area, Name: ControllerItem(c.v1), OK: ok, For: c.use, Required: c.v1 == "memory" || c.v1 == "pids"}
			if c.v2 == "" {
				it.Detail = "built into cgroup v2"
			} else if !ok {
				it.Detail = c.v2 + " is not in /sys/fs/cgroup/cgroup.controllers"
			}
			out = append(out, it)
		}
		out = append(out,
			Item{Area: area, Name: SwapAccounting, OK: h.exists("/sys/fs/cgroup/init.scope/memory.swap.max") || h.exists("/sys/fs/cgroup/system.slice/memory.swap.max"),
				For: "limits.memory.swap, swap usage", Detail: "memory.swap.max"},
			Item{Area: area, Name: IOWeight, OK: h.exists("/sys/fs/cgroup/system.slice/io.weight") || h.exists("/sys/fs/cgroup/system.slice/io.bfq.weight"),
				For: "limits.disk.priority", Detail: "io.weight"})
		return "v2", out
	}
	for _, c := range controllers {
		ok := h.exists("/sys/fs/cgroup/" + c.v1)
		it := Item{Area: area, Name: ControllerItem(c.v1), OK: ok, For: c.use, Required: c.v1 == "memory" || c.v1 == "pids"}
		if !ok {
			it.Detail = "/sys/fs/cgroup/" + c.v1 + " is not mounted"
		}
		out = append(out, it)
	}
	swap := Item{Area: area, Name: SwapAccounting, OK: h.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"), For: "limits.memory.swap, swap usage"}
	if !swap.OK {
		swap.Detail = "memory.memsw.* is missing: boot with swapaccount=1"
	}
	io := Item{Area: area, Name: IOWeight, OK: h.exists("/sys/fs/cgroup/blkio/blkio.weight") || h.exists("/sys/fs/cgroup/blkio/blkio.bfq.weight"),
		For: "limits.disk.priority"}
	if !io.OK {
		io.Detail = "no blkio.weight or blkio.bfq.weight: the disks' I/O scheduler has no weights (bfq has)"
	}
	out = append(out, swap, io)
	version := "v1"
	if h.exists("/sys/fs/cgroup/unified") {
		version = "v1 (hybrid)"
	}
	return version, out
}

func (h Host) kernelFeatures() []Item {
	fs := h.filesystems()
	var out []Item
	seccomp := Item{Area: "Kernel", Name: "seccomp filters", OK: h.exists("/proc/sys/kernel/seccomp/actions_avail"),
		For: "the syscall filter of every container", Required: true}
	if seccomp.OK {
		seccomp.Detail = h.read("/proc/sys/kernel/seccomp/actions_avail")
	}
	out = append(out, seccomp)
	for _, f := range []struct{ name, use string }{
		{"overlay", "dir pools layered on their image (launches without copying)"},
		{"btrfs", "btrfs storage pools"},
		{"xfs", "dir pools with reflinks and project quotas, on XFS"},
	} {
		it := Item{Area: "Filesystems", Name: f.name, OK: fs[f.name], For: f.use}
		if !it.OK {
			if h.moduleAvailable(f.name) {
				it.OK, it.Detail = true, "a module, loaded on first use"
			} else {
				it.Detail = "not in /proc/filesystems and no module"
			}
		}
		out = append(out, it)
	}
	aa := Item{Area: "Security", Name: AppArmor, OK: h.exists("/sys/kernel/security/apparmor"),
		For: "AppArmor confinement, as LXD has it (Lodge loads no AppArmor profiles yet: containers are confined by user namespaces, seccomp and cgroups)"}
	if !aa.OK {
		aa.Detail = "the kernel has no AppArmor (/sys/kernel/security/apparmor)"
	}
	out = append(out, aa)
	return out
}

// filesystems are the filesystem types the kernel has now.
func (h Host) filesystems() map[string]bool {
	out := map[string]bool{}
	f, err := os.Open(h.path("/proc/filesystems"))
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 0 {
			out[fields[len(fields)-1]] = true
		}
	}
	return out
}

// moduleAvailable says whether the kernel has a module for name that
// modprobe would load.
func (h Host) moduleAvailable(name string) bool {
	dep, err := os.ReadFile(h.path(filepath.Join("/lib/modules", kernelRelease(), "modules.dep")))
	if err != nil {
		return false
	}
	return strings.Contains(string(dep), "/"+name+".ko")
}

func (h Host) tools() []Item {
	var out []Item
	for _, t := range []struct{ bin, name, use string }{
		{"dnsmasq", "dnsmasq", "DHCP and DNS on managed networks"},
		{"nft", "nftables (nft)", "NAT, anti-spoofing filters and port forwards on managed networks"},
		{"rsync", "rsync", "moving instances between hosts"},
		{"qemu-system-x86_64", "QEMU", "virtual machines (not yet in Lodge)"},
	} {
		it := Item{Area: "Tools", Name: t.name, For: t.use}
		if p, err := h.lookPath(t.bin); err == nil {
			it.OK, it.Detail = true, p
		} else {
			it.Detail = t.bin + " is not installed"
		}
		out = append(out, it)
	}
	out = append(out, h.lxcfs())
	return out
}

// LXCFSMount is where Debian's lxcfs mounts its files.
const LXCFSMount = "/var/lib/lxcfs"

func (h Host) lxcfs() Item {
	it := Item{Area: "Tools", Name: LXCFS, For: "containers' own view of /proc/meminfo, cpuinfo, stat, uptime, loadavg, diskstats and swaps"}
	_, err := h.lookPath("lxcfs")
	mounted := false
	if f, ferr := os.Open(h.path("/proc/self/mountinfo")); ferr == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) > 4 && fields[4] == LXCFSMount && strings.Contains(sc.Text(), " - fuse.lxcfs ") {
				mounted = true
			}
		}
		f.Close()
	}
	switch {
	case mounted:
		it.OK, it.Detail = true, "running, mounted at "+LXCFSMount
	case err == nil:
		it.Detail = "installed but not running (systemctl start lxcfs)"
	default:
		it.Detail = "not installed (Debian's lxcfs package)"
	}
	return it
}

// String is a one-line form of an item, for logs.
func (it Item) String() string {
	state := "ok"
	if !it.OK {
		state = "missing"
	}
	return fmt.Sprintf("%s: %s (%s)", it.Name, state, it.Detail)
}
