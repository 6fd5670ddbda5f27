package instance

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/instance/container"
)

// State reports an instance's runtime state and usage counters.
func (s *Service) State(name string) (api.InstanceState, error) {
	if _, _, err := s.load(name); err != nil {
		return api.InstanceState{}, err
	}
	status, pid := s.rt.Status(name)
	code := map[string]int{container.StateRunning: api.Running, container.StateStopped: api.Stopped, container.StateFrozen: api.Frozen}[status]
	st := api.InstanceState{Status: status, StatusCode: code, Pid: int64(pid),
		Disk: map[string]api.InstanceStateDisk{}, Network: map[string]api.InstanceStateNetwork{}}
	if pid == 0 {
		return st, nil
	}
	if stats, procs, err := s.rt.Stats(name); err == nil && stats.CgroupStats != nil {
		cg := stats.CgroupStats
		st.Processes = int64(procs)
		st.CPU.Usage = int64(cg.CpuStats.CpuUsage.TotalUsage)
		st.Memory.Usage = int64(cg.MemoryStats.Usage.Usage)
		st.Memory.UsagePeak = int64(cg.MemoryStats.Usage.MaxUsage)
		st.Memory.SwapUsage = int64(cg.MemoryStats.SwapUsage.Usage)
		if l := cg.MemoryStats.Usage.Limit; l > 0 && l < 1<<62 {
			st.Memory.Total = int64(l)
		}
	}
	st.Network = netState(pid)
	return st, nil
}

// netState reads the interfaces of pid's network namespace.
func netState(pid int) map[string]api.InstanceStateNetwork {
	out := map[string]api.InstanceStateNetwork{}
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/dev", pid))
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) < 10 {
			continue
		}
		n := func(i int) int64 { v, _ := strconv.ParseInt(fields[i], 10, 64); return v }
		iface := strings.TrimSpace(name)
		entry := api.InstanceStateNetwork{
			Counters:  api.InstanceStateNetworkCounters{BytesReceived: n(0), PacketsReceived: n(1), BytesSent: n(8), PacketsSent: n(9)},
			Addresses: []api.InstanceStateNetworkAddress{}, State: "up", Type: "broadcast",
		}
		if iface == "lo" {
			entry.Type = "loopback"
			entry.Addresses = append(entry.Addresses,
				api.InstanceStateNetworkAddress{Family: "inet", Address: net.IPv4(127, 0, 0, 1).String(), Netmask: "8", Scope: "local"})
		}
		out[iface] = entry
	}
	return out
}
