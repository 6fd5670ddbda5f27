package container

import (
	"github.com/opencontainers/cgroups"

	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/limits"
)

// The runtime's neutral types under the short names this package uses.
type (
	Disk    = runtime.Disk
	UnixDev = runtime.UnixDev
	NIC     = runtime.NIC
)

// States a container can be in (the runtime's names).
const (
	StateStopped = runtime.StateStopped
	StateRunning = runtime.StateRunning
	StateFrozen  = runtime.StateFrozen
)

// cgroupResources is Lodge's resource set as libcontainer's cgroup
// settings; its fs2 manager converts shares to weights and quotas to
// cpu.max for cgroup v2.
func cgroupResources(l *limits.Resources) *cgroups.Resources {
	pids := l.Processes
	r := &cgroups.Resources{
		Memory: l.Memory, MemoryReservation: l.MemoryReservation, MemorySwap: l.MemorySwap,
		MemorySwappiness: l.MemorySwappiness,
		CpuShares:        l.CPUShares, CpuQuota: l.CPUQuota, CpuPeriod: l.CPUPeriod, CpusetCpus: l.CPUSet,
		PidsLimit:   &pids,
		BlkioWeight: l.IOWeight,
	}
	for _, x := range []struct {
		from []limits.Throttle
		to   *[]*cgroups.ThrottleDevice
	}{{l.ReadBps, &r.BlkioThrottleReadBpsDevice}, {l.WriteBps, &r.BlkioThrottleWriteBpsDevice},
		{l.ReadIOPS, &r.BlkioThrottleReadIOPSDevice}, {l.WriteIOPS, &r.BlkioThrottleWriteIOPSDevice}} {
		for _, t := range x.from {
			*x.to = append(*x.to, cgroups.NewThrottleDevice(t.Major, t.Minor, t.Rate))
		}
	}
	return r
}

// The container driver is the runtime of instance type "container".
var _ runtime.Runtime = (*Driver)(nil)
