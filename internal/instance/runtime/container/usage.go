package container

import (
	"strings"

	"github.com/opencontainers/cgroups"

	"github.com/lodge-project/lodge/internal/instance/runtime"
)

// usageOf turns libcontainer's cgroup counters into Lodge's, the same
// under cgroup v1 and v2.
func usageOf(cg *cgroups.Stats) runtime.Usage {
	u := runtime.Usage{
		CPUNanos:   int64(cg.CpuStats.CpuUsage.TotalUsage),
		Memory:     int64(cg.MemoryStats.Usage.Usage),
		MemoryPeak: int64(cg.MemoryStats.Usage.MaxUsage),
		// SwapUsage is memory and swap together (libcontainer keeps v1's
		// meaning under v2); swap alone is what LXD reports.
		Swap:       int64(cg.MemoryStats.SwapOnlyUsage.Usage),
		MemoryStat: memoryStat(cg.MemoryStats.Stats),
		Block:      blockIO(cg.BlkioStats),
	}
	if l := cg.MemoryStats.Usage.Limit; l > 0 && l < 1<<62 {
		u.MemoryLimit = int64(l)
	}
	cpu := cg.CpuStats.CpuUsage
	if len(cpu.PercpuUsageInUsermode) > 0 && len(cpu.PercpuUsageInUsermode) == len(cpu.PercpuUsageInKernelmode) {
		for i := range cpu.PercpuUsageInUsermode {
			u.CPUs = append(u.CPUs, runtime.CPUTime{User: cpu.PercpuUsageInUsermode[i], System: cpu.PercpuUsageInKernelmode[i]})
		}
	} else {
		u.CPUs = []runtime.CPUTime{{User: cpu.UsageInUsermode, System: cpu.UsageInKernelmode}}
	}
	return u
}

// memoryNames maps memory.stat's entries to the names Usage.MemoryStat
// uses: cgroup v1's hierarchical totals (a systemd container's processes
// are in child cgroups, which v1's plain entries leave out), and v2's
// entries, which are hierarchical already.
var memoryNames = map[string]string{
	"total_rss": "rss", "anon": "rss",
	"total_cache": "cache", "file": "cache",
	"total_mapped_file": "mapped", "file_mapped": "mapped",
	"total_dirty": "dirty", "file_dirty": "dirty",
	"total_writeback": "writeback", "file_writeback": "writeback",
	"total_shmem": "shmem", "shmem": "shmem",
	"total_active_anon": "active_anon", "active_anon": "active_anon",
	"total_inactive_anon": "inactive_anon", "inactive_anon": "inactive_anon",
	"total_active_file": "active_file", "active_file": "active_file",
	"total_inactive_file": "inactive_file", "inactive_file": "inactive_file",
	"total_unevictable": "unevictable", "unevictable": "unevictable",
}

// memoryStat picks the entries of memory.stat that Lodge reports, and
// adds active and inactive as LXD does.
func memoryStat(stats map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(memoryNames)+2)
	_, v1 := stats["total_rss"]
	for k, v := range stats {
		n, ok := memoryNames[k]
		// Under v1, shmem and the LRU lists appear plain and as totals:
		// the totals win.
		if !ok || (v1 && !strings.HasPrefix(k, "total_")) {
			continue
		}
		out[n] = v
	}
	out["active"] = out["active_anon"] + out["active_file"]
	out["inactive"] = out["inactive_anon"] + out["inactive_file"]
	return out
}

// blockIO sums the bytes and operations read and written by device.
// cgroup v1 lists a device under the throttle files when no I/O
// scheduler counts it; libcontainer falls back to those itself.
func blockIO(b cgroups.BlkioStats) []runtime.BlockIO {
	var out []runtime.BlockIO
	at := map[[2]uint64]int{}
	entry := func(major, minor uint64) *runtime.BlockIO {
		k := [2]uint64{major, minor}
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, runtime.BlockIO{Major: major, Minor: minor})
		}
		return &out[i]
	}
	for _, e := range b.IoServiceBytesRecursive {
		switch e.Op {
		case "Read", "read":
			entry(e.Major, e.Minor).ReadBytes += e.Value
		case "Write", "write":
			entry(e.Major, e.Minor).WrittenBytes += e.Value
		}
	}
	for _, e := range b.IoServicedRecursive {
		switch e.Op {
		case "Read", "read":
			entry(e.Major, e.Minor).Reads += e.Value
		case "Write", "write":
			entry(e.Major, e.Minor).Writes += e.Value
		}
	}
	return out
}
