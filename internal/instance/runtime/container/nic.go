package container

import (
	"fmt"
	"net"

	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/lodge-project/lodge/internal/instance/runtime"
)

// nicHook plugs the NICs in before the container's init runs.
func nicHook(nics []NIC) configs.Hook {
	return configs.NewFunctionHook(func(st *specs.State) error {
		for _, nic := range nics {
			if err := plugNIC(st.Pid, nic); err != nil {
				return err
			}
		}
		return nil
	})
}

// attachNIC creates the veth pair and moves its inner end into the container.
func (d *Driver) attachNIC(name string, nic NIC) error {
	defer d.lock(name)()
	_, pid, err := d.running(name)
	if err != nil {
		return nil // not running: the next start attaches it
	}
	return plugNIC(pid, nic)
}

func plugNIC(pid int, nic NIC) error {
	peer := "lp" + nic.HostName[len(nic.HostName)-4:] + fmt.Sprint(pid%10000)
	if len(peer) > 15 {
		peer = peer[:15]
	}
	var parent netlink.Link
	if nic.Type != runtime.NICP2P {
		var err error
		if parent, err = netlink.LinkByName(nic.Parent); err != nil {
			return fmt.Errorf("nic %s: parent %q: %w", nic.Name, nic.Parent, err)
		}
	}
	var host netlink.Link // what to delete if the attach fails
	ok := false
	defer func() {
		if !ok && host != nil {
			_ = netlink.LinkDel(host)
		}
	}()
	if nic.Type == runtime.NICMacvlan {
		mv := &netlink.Macvlan{LinkAttrs: netlink.LinkAttrs{Name: peer, ParentIndex: parent.Attrs().Index, MTU: nic.MTU}, Mode: netlink.MACVLAN_MODE_BRIDGE}
		if err := netlink.LinkAdd(mv); err != nil {
			return fmt.Errorf("nic %s: create macvlan on %s: %w", nic.Name, nic.Parent, err)
		}
		host = mv
	} else {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: nic.HostName, MTU: nic.MTU}, PeerName: peer}
		if old, err := netlink.LinkByName(nic.HostName); err == nil {
			_ = netlink.LinkDel(old) // left by a crash
		}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("nic %s: create veth %s: %w", nic.Name, nic.HostName, err)
		}
		host = veth
	}
	inner, err := netlink.LinkByName(peer)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetNsPid(inner, pid); err != nil {
		return fmt.Errorf("nic %s: move into the container: %w", nic.Name, err)
	}
	if nic.Type == runtime.NICMacvlan {
		host = nil // gone into the container, and goes with its namespace
	} else {
		if nic.Type != runtime.NICP2P {
			if err := netlink.LinkSetMaster(host, parent); err != nil {
				return fmt.Errorf("nic %s: attach to %s: %w", nic.Name, nic.Parent, err)
			}
		}
		if err := netlink.LinkSetUp(host); err != nil {
			return err
		}
	}
	if err := inNetns(pid, func(h *netlink.Handle) error { return setUpInside(h, nic, peer) }); err != nil {
		if nic.Type == runtime.NICMacvlan { // inside already: taken out there
			_ = inNetns(pid, func(h *netlink.Handle) error {
				for _, n := range []string{peer, nic.Name} {
					if l, err := h.LinkByName(n); err == nil && l.Type() == "macvlan" {
						_ = h.LinkDel(l)
					}
				}
				return nil
			})
		}
		return err
	}
	ok = true
	return nil
}

// inNetns runs fn with a netlink handle in pid's network namespace.
func inNetns(pid int, fn func(h *netlink.Handle) error) error {
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	return fn(h)
}

// setUpInside names, addresses and brings up a NIC moved into the
// container (called peer until renamed).
func setUpInside(h *netlink.Handle, nic NIC, peer string) error {
	link, err := h.LinkByName(peer)
	if err != nil {
		return err
	}
	if err := h.LinkSetName(link, nic.Name); err != nil {
		return fmt.Errorf("nic %s: rename inside the container: %w", nic.Name, err)
	}
	if nic.HWAddr != "" {
		mac, err := net.ParseMAC(nic.HWAddr)
		if err != nil {
			return fmt.Errorf("nic %s: hwaddr %q: %w", nic.Name, nic.HWAddr, err)
		}
		if err := h.LinkSetHardwareAddr(link, mac); err != nil {
			return err
		}
	}
	if nic.MTU > 0 {
		_ = h.LinkSetMTU(link, nic.MTU)
	}
	return h.LinkSetUp(link)
}

// detachNIC removes the veth pair (deleting the host end deletes both), or
// a macvlan inside the container.
func (d *Driver) detachNIC(name string, nic NIC) error {
	if nic.Type == runtime.NICMacvlan {
		_, pid, err := d.running(name)
		if err != nil {
			return nil // not running: nothing is attached
		}
		return inNetns(pid, func(h *netlink.Handle) error {
			link, err := h.LinkByName(nic.Name)
			if err != nil {
				return nil
			}
			return h.LinkDel(link)
		})
	}
	link, err := netlink.LinkByName(nic.HostName)
	if err != nil {
		return nil
	}
	return netlink.LinkDel(link)
}
