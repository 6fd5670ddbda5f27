package instance

import (
	"net"
	"strconv"

	"github.com/vishvananda/netlink"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/instance/container"
)

// State reports an instance's runtime state and usage counters.
func (s *Service) State(name string) (api.InstanceState, error) {
	e, _, err := s.load(name)
	if err != nil {
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
	// Derived from the config alone: state is on the list's hot path.
	hostNames := map[string]string{}
	for dev, d := range e.Devices {
		if d["type"] == "nic" {
			ifname := d["name"]
			if ifname == "" {
				ifname = dev
			}
			hostNames[ifname] = s.hostVethName(e.Name, dev)
		}
	}
	st.Network = netState(pid, hostNames)
	return st, nil
}

// netState reads the interfaces of pid's network namespace through
// netlink: addresses, counters, MAC, MTU; hostNames maps an interface to
// its host-side veth.
func netState(pid int, hostNames map[string]string) map[string]api.InstanceStateNetwork {
	out := map[string]api.InstanceStateNetwork{}
	_ = container.InNetns(pid, func(h *netlink.Handle) error {
		readNetState(h, hostNames, out)
		return nil
	})
	return out
}

func readNetState(h *netlink.Handle, hostNames map[string]string, out map[string]api.InstanceStateNetwork) {
	links, err := h.LinkList()
	if err != nil {
		return
	}
	for _, l := range links {
		a := l.Attrs()
		entry := api.InstanceStateNetwork{Addresses: []api.InstanceStateNetworkAddress{}, Hwaddr: a.HardwareAddr.String(),
			HostName: hostNames[a.Name], Mtu: a.MTU, State: "down", Type: "broadcast"}
		if a.Flags&net.FlagUp != 0 {
			entry.State = "up"
		}
		if a.Flags&net.FlagLoopback != 0 {
			entry.Type = "loopback"
		}
		if st := a.Statistics; st != nil {
			entry.Counters = api.InstanceStateNetworkCounters{BytesReceived: int64(st.RxBytes), BytesSent: int64(st.TxBytes),
				PacketsReceived: int64(st.RxPackets), PacketsSent: int64(st.TxPackets)}
		}
		addrs, _ := h.AddrList(l, netlink.FAMILY_ALL)
		for _, ad := range addrs {
			fam, scope := "inet", "global"
			if ad.IP.To4() == nil {
				fam = "inet6"
			}
			switch ad.Scope {
			case int(netlink.SCOPE_LINK):
				scope = "link"
			case int(netlink.SCOPE_HOST):
				scope = "local"
			}
			ones, _ := ad.Mask.Size()
			entry.Addresses = append(entry.Addresses, api.InstanceStateNetworkAddress{Family: fam, Address: ad.IP.String(), Netmask: strconv.Itoa(ones), Scope: scope})
		}
		out[a.Name] = entry
	}
}
