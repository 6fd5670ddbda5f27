package metrics

import (
	"strconv"

	"github.com/lodge-project/lodge/internal/instance/runtime"
)

// Instance is what one running instance reports.
type Instance struct {
	Project, Name, Type string
	Usage               runtime.Usage
	// MemoryTotal is the memory the instance may use: its limit, or the
	// host's memory when it has none (LXD's effective limit).
	MemoryTotal uint64
	// Filesystems are its disks that have a path inside it.
	Filesystems []Filesystem
	// BlockName names a block device by its numbers ("sda"); nil or ""
	// falls back to "major:minor".
	BlockName func(major, minor uint64) string
}

// Filesystem is the space on one of an instance's disks.
type Filesystem struct {
	Device, Mountpoint, FSType string
	Size, Avail, Free          uint64
}

// memoryFamilies are the entries of Usage.MemoryStat that LXD reports.
var memoryFamilies = map[string]Family{
	"active_anon": MemoryActiveAnonBytes, "active_file": MemoryActiveFileBytes, "active": MemoryActiveBytes,
	"inactive_anon": MemoryInactiveAnonBytes, "inactive_file": MemoryInactiveFileBytes, "inactive": MemoryInactiveBytes,
	"unevictable": MemoryUnevictableBytes, "writeback": MemoryWritebackBytes, "dirty": MemoryDirtyBytes,
	"mapped": MemoryMappedBytes, "rss": MemoryRSSBytes, "shmem": MemoryShmemBytes, "cache": MemoryCachedBytes,
}

// AddInstance adds one instance's samples, labelled with its project,
// name and type as LXD labels them.
func (s *Set) AddInstance(in Instance) {
	base := []Label{{"name", in.Name}, {"project", in.Project}, {"type", in.Type}}
	with := func(extra ...Label) []Label {
		return append(append(make([]Label, 0, len(base)+len(extra)), base...), extra...)
	}
	u := in.Usage

	for cpu, t := range u.CPUs {
		id := strconv.Itoa(cpu)
		s.Add(CPUSecondsTotal, float64(t.System)/1e9, with(Label{"cpu", id}, Label{"mode", "system"})...)
		s.Add(CPUSecondsTotal, float64(t.User)/1e9, with(Label{"cpu", id}, Label{"mode", "user"})...)
	}

	for _, b := range u.Block {
		dev := ""
		if in.BlockName != nil {
			dev = in.BlockName(b.Major, b.Minor)
		}
		if dev == "" {
			dev = strconv.FormatUint(b.Major, 10) + ":" + strconv.FormatUint(b.Minor, 10)
		}
		l := with(Label{"device", dev})
		s.Add(DiskReadBytesTotal, float64(b.ReadBytes), l...)
		s.Add(DiskReadsCompletedTotal, float64(b.Reads), l...)
		s.Add(DiskWrittenBytesTotal, float64(b.WrittenBytes), l...)
		s.Add(DiskWritesCompletedTotal, float64(b.Writes), l...)
	}

	for _, fs := range in.Filesystems {
		l := with(Label{"device", fs.Device}, Label{"mountpoint", fs.Mountpoint}, Label{"fstype", fs.FSType})
		s.Add(FilesystemSizeBytes, float64(fs.Size), l...)
		s.Add(FilesystemAvailBytes, float64(fs.Avail), l...)
		s.Add(FilesystemFreeBytes, float64(fs.Free), l...)
	}

	for k, v := range u.MemoryStat {
		if f, ok := memoryFamilies[k]; ok {
			s.Add(f, float64(v), base...)
		}
	}
	if total := float64(in.MemoryTotal); total > 0 {
		used := float64(u.Memory)
		s.Add(MemoryMemTotalBytes, total, base...)
		s.Add(MemoryMemFreeBytes, total-used, base...)
		s.Add(MemoryMemAvailableBytes, total-used+float64(u.MemoryStat["cache"]), base...)
	}
	s.Add(MemorySwapBytes, float64(u.Swap), base...)

	for ifname, n := range u.Interfaces {
		l := with(Label{"device", ifname})
		c := n.Counters
		s.Add(NetworkReceiveBytesTotal, float64(c.BytesReceived), l...)
		s.Add(NetworkReceivePacketsTotal, float64(c.PacketsReceived), l...)
		s.Add(NetworkReceiveErrsTotal, float64(c.ErrorsReceived), l...)
		s.Add(NetworkReceiveDropTotal, float64(c.PacketsDroppedInbound), l...)
		s.Add(NetworkTransmitBytesTotal, float64(c.BytesSent), l...)
		s.Add(NetworkTransmitPacketsTotal, float64(c.PacketsSent), l...)
		s.Add(NetworkTransmitErrsTotal, float64(c.ErrorsSent), l...)
		s.Add(NetworkTransmitDropTotal, float64(c.PacketsDroppedOutbound), l...)
	}

	s.Add(ProcsTotal, float64(u.Processes), base...)
}
