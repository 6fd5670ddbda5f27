package instance

import (
	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/instance/runtime"
)

// State reports an instance's runtime state and usage counters.
func (s *Service) State(name string) (api.InstanceState, error) {
	e, _, err := s.load(name)
	if err != nil {
		return api.InstanceState{}, err
	}
	rt := s.runtimeOf(e.Type)
	status, pid := rt.Status(name)
	code := map[string]int{runtime.StateRunning: api.Running, runtime.StateStopped: api.Stopped, runtime.StateFrozen: api.Frozen}[status]
	st := api.InstanceState{Status: status, StatusCode: code, Pid: int64(pid),
		Disk: map[string]api.InstanceStateDisk{}, Network: map[string]api.InstanceStateNetwork{}}
	if pid == 0 {
		return st, nil
	}
	u, err := rt.Usage(name)
	if err != nil {
		return st, nil // it stopped meanwhile
	}
	st.Processes = int64(u.Processes)
	st.CPU.Usage = u.CPUNanos
	st.Memory.Usage, st.Memory.UsagePeak, st.Memory.SwapUsage, st.Memory.Total = u.Memory, u.MemoryPeak, u.Swap, u.MemoryLimit
	// Derived from the config alone: state is on the list's hot path.
	hostNames := map[string]string{}
	for dev, d := range e.Devices {
		if d["type"] == "nic" {
			ifname := d["name"]
			if ifname == "" {
				ifname = dev
			}
			hostNames[ifname] = s.hostVethName(e.key(), dev)
		}
	}
	for ifname, n := range u.Interfaces {
		n.HostName = hostNames[ifname]
		st.Network[ifname] = n
	}
	return st, nil
}
