package container

import (
	"net"
	"strconv"

	"github.com/vishvananda/netlink"

	"github.com/lodge-project/lodge/api"
)

// netState reads the interfaces of pid's network namespace through
// netlink: addresses, counters, MAC, MTU.
func netState(pid int) map[string]api.InstanceStateNetwork {
	out := map[string]api.InstanceStateNetwork{}
	_ = inNetns(pid, func(h *netlink.Handle) error {
		readNetState(h, out)
		return nil
	})
	return out
}

func readNetState(h *netlink.Handle, out map[string]api.InstanceStateNetwork) {
	links, err := h.LinkList()
	if err != nil {
		return
	}
	for _, l := range links {
		a := l.Attrs()
		entry := api.InstanceStateNetwork{Addresses: []api.InstanceStateNetworkAddress{}, Hwaddr: a.HardwareAddr.String(),
			Mtu: a.MTU, State: "down", Type: "broadcast"}
		if a.Flags&net.FlagUp != 0 {
			entry.State = "up"
		}
		if a.Flags&net.FlagLoopback != 0 {
			entry.Type = "loopback"
		}
		if st := a.Statistics; st != nil {
			entry.Counters = api.InstanceStateNetworkCounters{BytesReceived: int64(st.RxBytes), BytesSent: int64(st.TxBytes),
				PacketsReceived: int64(st.RxPackets), PacketsSent: int64(st.TxPackets),
				ErrorsReceived: int64(st.RxErrors), ErrorsSent: int64(st.TxErrors),
				PacketsDroppedInbound: int64(st.RxDropped), PacketsDroppedOutbound: int64(st.TxDropped)}
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
