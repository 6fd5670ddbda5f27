package device

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/instance/keys"
	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/network"
	"github.com/lodge-project/lodge/internal/project"
)

// nic is a network interface: bridged (on a host bridge or a managed
// network), p2p (a veth pair whose host end stands alone) or macvlan (of a
// host interface). Its host end carries the policies: anti-spoofing and
// connection limits (nftables), bandwidth (tc), priority.
type nic struct{}

func (nic) Keys() []string {
	return []string{"nictype", "parent", "network", "name", "hwaddr", "mtu", "ipv4.address", "ipv6.address",
		"security.mac_filtering", "security.ipv4_filtering", "security.ipv6_filtering",
		"limits.ingress", "limits.egress", "limits.max", "limits.priority", "limits.connections"}
}

func (nic) Validate(name string, d Config) error {
	for _, k := range []string{"limits.ingress", "limits.egress", "limits.max"} {
		if v := d[k]; v != "" {
			if _, err := network.ParseBitRate(v); err != nil {
				return apierr.BadRequest("device %q: %s: %v", name, k, err)
			}
		}
	}
	if v := d["limits.connections"]; v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 {
			return apierr.BadRequest("device %q: limits.connections %q: want a positive number", name, v)
		}
	}
	if keys.IsTrue(d, "security.ipv4_filtering") && d["ipv4.address"] == "" {
		return apierr.BadRequest("device %q: security.ipv4_filtering needs the NIC's ipv4.address pinned", name)
	}
	if v := d["limits.priority"]; v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 0 || n > 65535 {
			return apierr.BadRequest("device %q: limits.priority %q: want 0 to 65535", name, v)
		}
	}
	switch d["nictype"] {
	case "bridged", "":
		if (d["parent"] == "") == (d["network"] == "") {
			return apierr.BadRequest("device %q: a bridged nic needs either a parent (a host bridge) or a network (a managed one)", name)
		}
	case "p2p", "macvlan":
		if d["network"] != "" {
			return apierr.BadRequest("device %q: a %s nic takes no network (managed networks are bridges: use nictype=bridged)", name, d["nictype"])
		}
		if d["nictype"] == "macvlan" && d["parent"] == "" {
			return apierr.BadRequest("device %q: a macvlan nic needs a parent (a host interface)", name)
		}
		if d["nictype"] == "p2p" && d["parent"] != "" {
			return apierr.BadRequest("device %q: a p2p nic takes no parent (its host end stands alone)", name)
		}
		for k, v := range d {
			hostSide := strings.HasPrefix(k, "limits.") && d["nictype"] == "macvlan"
			if v != "" && (strings.HasPrefix(k, "security.") || k == "ipv4.address" || k == "ipv6.address" || hostSide) {
				return apierr.BadRequest("device %q: a %s nic does not take %s (it is not on a managed bridge)", name, d["nictype"], k)
			}
		}
	default:
		return apierr.BadRequest("device %q: nictype %q is not supported (bridged, p2p or macvlan)", name, d["nictype"])
	}
	if n := d["name"]; len(n) > 15 {
		return apierr.BadRequest("device %q: interface name %q is longer than 15 characters", name, n)
	}
	return nil
}

// NICNetwork names the managed network a device is on ("" for none): a
// NIC's network key, or its parent when that names a managed network. LXD
// reads such a bridged NIC as one with network=, and lxc 5.0.2 makes them
// (nictype=bridged, parent=NET) for `lxc launch -n` and `lxc network attach`.
func NICNetwork(networks *network.Service, d Config) string {
	if d["type"] != "nic" || networks == nil {
		return ""
	}
	if n := d["network"]; n != "" {
		if networks.IsManaged(n) {
			return n
		}
		return ""
	}
	if (d["nictype"] == "" || d["nictype"] == "bridged") && d["parent"] != "" && networks.IsManaged(d["parent"]) {
		return d["parent"]
	}
	return ""
}

// networksProject is the project whose networks inst's NICs reach.
func networksProject(env *Env, inst Instance) string {
	proj, _ := project.SplitKey(inst.Name)
	if env.NetworksProject == nil {
		return project.Default
	}
	return project.Name(env.NetworksProject(proj))
}

// NICMAC is a NIC's hwaddr, or the one lodged gave it (volatile).
func NICMAC(inst Instance, dev string) string {
	if mac := inst.Devices[dev]["hwaddr"]; mac != "" {
		return mac
	}
	return inst.Config["volatile."+dev+".hwaddr"]
}

func (nic) Resolve(env *Env, inst Instance, name string, d Config) (Device, error) {
	parent := d["parent"]
	if net := NICNetwork(env.Networks, d); net != "" {
		br, _, err := env.Networks.Bridge(net)
		if err != nil {
			return nil, apierr.BadRequest("device %q: %v", name, err)
		}
		if want := networksProject(env, inst); env.Networks.Project(net) != want {
			return nil, apierr.BadRequest("device %q: network %q is not one of project %q's networks", name, net, want)
		}
		if err := env.Networks.CheckNIC(net, inst.Name, name, d["ipv4.address"], d["ipv6.address"]); err != nil {
			return nil, err
		}
		parent = br
	} else if d["network"] != "" {
		return nil, apierr.BadRequest("device %q: network %q does not exist (lodge network list shows the managed ones)", name, d["network"])
	} else if d["ipv4.address"] != "" || d["ipv6.address"] != "" || d["limits.connections"] != "" {
		return nil, apierr.BadRequest("device %q: ipv4.address, ipv6.address and limits.connections need a managed network (network=..., or a parent that is one); %q is not", name, parent)
	}
	typ := d["nictype"]
	if typ == "bridged" {
		typ = ""
	}
	if _, err := netlink.LinkByName(parent); err != nil && typ != runtime.NICP2P {
		what := map[bool]string{true: "host interface", false: "bridge"}[typ == runtime.NICMacvlan]
		return nil, apierr.BadRequest("device %q: %s %q does not exist on the host", name, what, parent)
	}
	mtu, _ := strconv.Atoi(d["mtu"])
	ifname := d["name"]
	if ifname == "" {
		ifname = name
	}
	n := nicDevice{name: name, nic: runtime.NIC{Name: ifname, HostName: env.VethName(inst.Name, name), Parent: parent, HWAddr: NICMAC(inst, name), MTU: mtu, Type: typ}}
	var err error
	if n.policy, err = policyOf(env, name, d, n.nic); err != nil {
		return nil, err
	}
	return n, nil
}

// nicPolicy is what applies to a NIC on the host side once it is plugged.
type nicPolicy struct {
	filter          network.PortFilter
	ingress, egress uint64
}

func policyOf(env *Env, dev string, d Config, n runtime.NIC) (nicPolicy, error) {
	p := nicPolicy{filter: network.PortFilter{Veth: n.HostName, MAC: n.HWAddr, Bridge: n.Parent,
		MACFilter: keys.IsTrue(d, "security.mac_filtering"), IPv4: keys.IsTrue(d, "security.ipv4_filtering"),
		IPv6: keys.IsTrue(d, "security.ipv6_filtering"), IPv4Addr: d["ipv4.address"], IPv6Addr: d["ipv6.address"]}}
	if net := NICNetwork(env.Networks, d); p.filter.IPv6 && net != "" {
		p.filter.IPv6Net = env.Networks.Subnet6(net)
	}
	p.filter.ConnLimit, _ = strconv.Atoi(d["limits.connections"])
	rate := func(k string) uint64 {
		r, _ := network.ParseBitRate(d[k])
		return r
	}
	p.ingress, p.egress = rate("limits.ingress"), rate("limits.egress")
	if m := rate("limits.max"); m > 0 {
		p.ingress, p.egress = m, m
	}
	if v := d["limits.priority"]; v != "" {
		prio, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return p, apierr.BadRequest("device %q: limits.priority %q: want 0 to 65535", dev, v)
		}
		p.filter.Priority = uint32(prio)
	}
	return p, nil
}

// nicDevice is a resolved NIC and its host-side policy.
type nicDevice struct {
	name   string
	nic    runtime.NIC
	policy nicPolicy
}

func (n nicDevice) Plug(*Env, Instance) (runtime.Device, error) { return n.nic, nil }
func (n nicDevice) Plugged() runtime.Device                     { return n.nic }

// Up applies the policy on the host end (macvlans have none: validation
// refuses their policy keys).
func (n nicDevice) Up(env *Env, inst Instance, pid int) error {
	if !n.nic.HasHostEnd() {
		return nil
	}
	if env.Networks != nil {
		if err := env.Networks.Filters.Set(n.policy.filter); err != nil {
			return fmt.Errorf("device %q: filters: %w", n.name, err)
		}
	}
	if err := network.ApplyBandwidth(n.nic.HostName, n.policy.ingress, n.policy.egress); err != nil {
		return fmt.Errorf("device %q: %w", n.name, err)
	}
	return nil
}

// Down forgets the policy (the veth is gone or going).
func (n nicDevice) Down(env *Env, inst Instance) {
	if !n.nic.HasHostEnd() {
		return
	}
	if env.Networks != nil {
		if err := env.Networks.Filters.Remove(n.nic.HostName); err != nil {
			env.Log.Warn("remove NIC filters", "veth", n.nic.HostName, "err", err)
		}
	}
	network.RemoveBandwidth(n.nic.HostName)
}

// Update takes a policy change live: the interface stays as it is.
func (n nicDevice) Update(env *Env, inst Instance, pid int, from Device) (bool, error) {
	old, ok := from.(nicDevice)
	if !ok || old.nic != n.nic {
		return false, nil
	}
	return true, n.Up(env, inst, pid)
}

// Filter is the NIC's nftables filter, for loading all at once.
func (n nicDevice) Filter(env *Env, inst Instance) (network.PortFilter, bool) {
	return n.policy.filter, n.nic.HasHostEnd()
}
