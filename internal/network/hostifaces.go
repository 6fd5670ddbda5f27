package network

import (
	"os"
	"path/filepath"
	"sort"

	"github.com/vishvananda/netlink"

	"github.com/lodge-project/lodge/api"
)

// The host's own interfaces are listed as unmanaged networks, as LXD lists
// them: clients (Ansible's inventory plugin, lxc network list) expect lo and
// eth0 there, and NICs may name them as parents.

// hostInterfaces renders every host interface that is not a managed
// network, in name order.
func (s *Service) hostInterfaces(managed map[string]bool) []api.Network {
	links, err := netlink.LinkList()
	if err != nil {
		return nil
	}
	var out []api.Network
	for _, l := range links {
		if name := l.Attrs().Name; !managed[name] {
			out = append(out, s.unmanaged(l))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// hostInterface renders one host interface as an unmanaged network.
func (s *Service) hostInterface(name string) (api.Network, bool) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return api.Network{}, false
	}
	return s.unmanaged(l), true
}

func (s *Service) unmanaged(l netlink.Link) api.Network {
	name := l.Attrs().Name
	used := s.UsedBy(name)
	if used == nil {
		used = []string{}
	}
	sort.Strings(used)
	return api.Network{Name: name, Type: interfaceType(l), Managed: false, Config: map[string]string{},
		UsedBy: used, Locations: []string{"none"}}
}

// interfaceType names an interface's kind as LXD does: loopback, bridge,
// bond, vlan, physical (backed by a device), or unknown.
func interfaceType(l netlink.Link) string {
	sys := filepath.Join("/sys/class/net", l.Attrs().Name)
	exists := func(p string) bool { _, err := os.Stat(filepath.Join(sys, p)); return err == nil }
	switch {
	case l.Attrs().Flags&0x8 != 0 || l.Type() == "loopback" || l.Attrs().Name == "lo":
		return "loopback"
	case exists("bridge"):
		return "bridge"
	case exists("bonding"):
		return "bond"
	case l.Type() == "vlan":
		return "vlan"
	case exists("device"):
		return "physical"
	}
	return "unknown"
}
