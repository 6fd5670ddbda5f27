// Package resources reads the host's hardware (CPUs, memory, GPUs,
// network cards, disks, USB and PCI devices, the machine) from sysfs and
// procfs, for GET /1.0/resources in LXD's shape.
package resources

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/api"
)

// Host is where the files are read: "/" on a host; a test's tree in tests.
type Host struct {
	Root string
}

func (h Host) path(p string) string { return filepath.Join(h.Root, p) }

func (h Host) read(p string) string {
	b, err := os.ReadFile(h.path(p))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (h Host) readUint(p string) (uint64, bool) {
	v, err := strconv.ParseUint(h.read(p), 10, 64)
	return v, err == nil
}

// Get reads the host's CPUs, memory and devices.
func (h Host) Get() (api.Resources, error) {
	cpu, err := h.CPU()
	if err != nil {
		return api.Resources{}, fmt.Errorf("read the CPUs: %w", err)
	}
	mem, err := h.Memory()
	if err != nil {
		return api.Resources{}, fmt.Errorf("read the memory: %w", err)
	}
	return api.Resources{CPU: cpu, Memory: mem, GPU: h.GPU(), Network: h.Network(), Storage: h.Storage(),
		USB: h.USB(), PCI: h.PCI(), System: h.System()}, nil
}

var cpuDir = regexp.MustCompile(`^cpu[0-9]+$`)

// CPU reads the logical CPUs sysfs lists and groups them into cores and
// sockets by their topology.
func (h Host) CPU() (api.ResourcesCPU, error) {
	var out api.ResourcesCPU
	var uts unix.Utsname
	if err := unix.Uname(&uts); err == nil {
		out.Architecture = unix.ByteSliceToString(uts.Machine[:])
	}
	base := "sys/devices/system/cpu"
	entries, err := os.ReadDir(h.path(base))
	if err != nil {
		return out, err
	}
	isolated := parseList(h.read(base + "/isolated"))
	names, vendors := h.cpuinfo()
	sockets := map[uint64]*api.ResourcesCPUSocket{}
	cores := map[[2]uint64]*api.ResourcesCPUCore{} // socket, core
	for _, e := range entries {
		if !cpuDir.MatchString(e.Name()) {
			continue
		}
		id, _ := strconv.ParseInt(strings.TrimPrefix(e.Name(), "cpu"), 10, 64)
		dir := base + "/" + e.Name()
		socketID, _ := h.readUint(dir + "/topology/physical_package_id")
		coreID, _ := h.readUint(dir + "/topology/core_id")
		dieID, _ := h.readUint(dir + "/topology/die_id")
		online := true // cpu0 often has no online file: it cannot go offline
		if v, ok := h.readUint(dir + "/online"); ok {
			online = v == 1
		}
		s := sockets[socketID]
		if s == nil {
			s = &api.ResourcesCPUSocket{Socket: socketID, Name: names[socketID], Vendor: vendors[socketID], Cache: h.caches(dir)}
			s.FrequencyMinimum, _ = h.readUint(dir + "/cpufreq/cpuinfo_min_freq")
			s.FrequencyTurbo, _ = h.readUint(dir + "/cpufreq/cpuinfo_max_freq")
			s.FrequencyMinimum /= 1000
			s.FrequencyTurbo /= 1000
			sockets[socketID] = s
		}
		c := cores[[2]uint64{socketID, coreID}]
		if c == nil {
			c = &api.ResourcesCPUCore{Core: coreID, Die: dieID}
			cores[[2]uint64{socketID, coreID}] = c
		}
		if f, ok := h.readUint(dir + "/cpufreq/scaling_cur_freq"); ok && f/1000 > c.Frequency {
			c.Frequency = f / 1000
		}
		c.Threads = append(c.Threads, api.ResourcesCPUThread{ID: id, NUMANode: h.numaNode(dir), Online: online, Isolated: isolated[id]})
		out.Total++
	}
	for key, c := range cores {
		sort.Slice(c.Threads, func(i, j int) bool { return c.Threads[i].ID < c.Threads[j].ID })
		for i := range c.Threads {
			c.Threads[i].Thread = uint64(i)
		}
		s := sockets[key[0]]
		s.Cores = append(s.Cores, *c)
		if c.Frequency > s.Frequency {
			s.Frequency = c.Frequency
		}
	}
	for _, s := range sockets {
		sort.Slice(s.Cores, func(i, j int) bool { return s.Cores[i].Core < s.Cores[j].Core })
		out.Sockets = append(out.Sockets, *s)
	}
	sort.Slice(out.Sockets, func(i, j int) bool { return out.Sockets[i].Socket < out.Sockets[j].Socket })
	if out.Total == 0 {
		return out, fmt.Errorf("no CPUs under %s", h.path(base))
	}
	return out, nil
}

// cpuinfo maps each socket to its model name and vendor.
func (h Host) cpuinfo() (names, vendors map[uint64]string) {
	names, vendors = map[uint64]string{}, map[uint64]string{}
	f, err := os.Open(h.path("proc/cpuinfo"))
	if err != nil {
		return names, vendors
	}
	defer f.Close()
	var name, vendor string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "model name":
			name = v
		case "vendor_id":
			vendor = v
		case "physical id":
			if id, err := strconv.ParseUint(v, 10, 64); err == nil {
				names[id], vendors[id] = name, vendor
			}
		}
	}
	if len(names) == 0 && name != "" {
		names[0], vendors[0] = name, vendor // no physical id: one socket
	}
	return names, vendors
}

// caches are a CPU's caches, from its cache/index* folders.
func (h Host) caches(dir string) []api.ResourcesCPUCache {
	idx, _ := filepath.Glob(h.path(dir + "/cache/index[0-9]*"))
	var out []api.ResourcesCPUCache
	for _, p := range idx {
		rel, _ := filepath.Rel(h.Root, p)
		level, ok := h.readUint(rel + "/level")
		if !ok {
			continue
		}
		size := parseSize(h.read(rel + "/size"))
		out = append(out, api.ResourcesCPUCache{Level: level, Type: h.read(rel + "/type"), Size: size})
	}
	return out
}

// numaNode is the NUMA node a CPU's folder links to (node<N>), 0 without.
func (h Host) numaNode(dir string) uint64 {
	nodes, _ := filepath.Glob(h.path(dir + "/node[0-9]*"))
	if len(nodes) == 0 {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimPrefix(filepath.Base(nodes[0]), "node"), 10, 64)
	return n
}

// Memory reads /proc/meminfo and each NUMA node's meminfo.
func (h Host) Memory() (api.ResourcesMemory, error) {
	var out api.ResourcesMemory
	info, err := meminfo(h.path("proc/meminfo"), "")
	if err != nil {
		return out, err
	}
	out.Total = info["MemTotal"]
	if avail, ok := info["MemAvailable"]; ok && avail <= out.Total {
		out.Used = out.Total - avail
	}
	out.HugepagesSize = info["Hugepagesize"]
	out.HugepagesTotal = info["HugePages_Total"] * out.HugepagesSize
	out.HugepagesUsed = (info["HugePages_Total"] - min(info["HugePages_Free"], info["HugePages_Total"])) * out.HugepagesSize
	nodes, _ := filepath.Glob(h.path("sys/devices/system/node/node[0-9]*"))
	for _, p := range nodes {
		id, err := strconv.ParseUint(strings.TrimPrefix(filepath.Base(p), "node"), 10, 64)
		if err != nil {
			continue
		}
		n, err := meminfo(filepath.Join(p, "meminfo"), fmt.Sprintf("Node %d ", id))
		if err != nil {
			continue
		}
		node := api.ResourcesMemoryNode{NUMANode: id, Total: n["MemTotal"], Used: n["MemUsed"]}
		node.HugepagesTotal = n["HugePages_Total"] * out.HugepagesSize
		node.HugepagesUsed = (n["HugePages_Total"] - min(n["HugePages_Free"], n["HugePages_Total"])) * out.HugepagesSize
		out.Nodes = append(out.Nodes, node)
	}
	sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].NUMANode < out.Nodes[j].NUMANode })
	if out.Total == 0 {
		return out, fmt.Errorf("no MemTotal in %s", h.path("proc/meminfo"))
	}
	return out, nil
}

// meminfo reads a meminfo file into bytes by key ("kB" values) or counts
// (HugePages_*); prefix is what each line starts with (a node's "Node N ").
func meminfo(path, prefix string) (map[string]uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), prefix), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			continue
		}
		if len(fields) > 1 && fields[1] == "kB" {
			n *= 1024
		}
		out[strings.TrimSpace(k)] = n
	}
	return out, sc.Err()
}

// parseList reads a CPU list such as "0-3,7".
func parseList(s string) map[int64]bool {
	out := map[int64]bool{}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.ParseInt(lo, 10, 64)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.ParseInt(hi, 10, 64); err != nil {
				continue
			}
		}
		for i := a; i <= b && i-a < 1<<16; i++ {
			out[i] = true
		}
	}
	return out
}

// parseSize reads a cache size such as "32K" or "8192K" into bytes.
func parseSize(s string) uint64 {
	mult := uint64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1024, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1024*1024, strings.TrimSuffix(s, "M")
	}
	n, _ := strconv.ParseUint(s, 10, 64)
	return n * mult
}
