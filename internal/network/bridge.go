package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// ensureBridge creates the bridge if needed, sets its MTU and brings it up.
func ensureBridge(name string, mtu int) (netlink.Link, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if !errors.As(err, &notFound) {
			return nil, err
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
		if err := netlink.LinkAdd(br); err != nil {
			return nil, fmt.Errorf("create bridge %s: %w", name, err)
		}
		if link, err = netlink.LinkByName(name); err != nil {
			return nil, err
		}
	} else if link.Type() != "bridge" {
		return nil, fmt.Errorf("%s exists on the host and is a %s, not a bridge", name, link.Type())
	}
	if mtu > 0 && link.Attrs().MTU != mtu {
		if err := netlink.LinkSetMTU(link, mtu); err != nil {
			return nil, fmt.Errorf("set MTU of %s: %w", name, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("bring %s up: %w", name, err)
	}
	return link, nil
}

// setAddresses makes the bridge's global addresses exactly want.
func setAddresses(link netlink.Link, want []netip.Prefix) error {
	wanted := map[string]netip.Prefix{}
	for _, p := range want {
		wanted[p.String()] = p
	}
	have, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return err
	}
	for _, a := range have {
		if a.Scope != int(netlink.SCOPE_UNIVERSE) {
			continue
		}
		p, ok := toPrefix(a.IPNet)
		if !ok {
			continue
		}
		if _, keep := wanted[p.String()]; keep {
			delete(wanted, p.String())
			continue
		}
		if err := netlink.AddrDel(link, &a); err != nil {
			return fmt.Errorf("remove %s from %s: %w", p, link.Attrs().Name, err)
		}
	}
	for _, p := range wanted {
		ip := net.IP(p.Addr().AsSlice())
		bits := 32
		if p.Addr().Is6() {
			bits = 128
		}
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(p.Bits(), bits)}}
		if p.Addr().Is6() {
			addr.Flags = 0x80 // IFA_F_NODAD: the bridge's own address is ours alone
		}
		if err := netlink.AddrAdd(link, addr); err != nil {
			return fmt.Errorf("add %s to %s: %w", p, link.Attrs().Name, err)
		}
	}
	return nil
}

// deleteBridge removes the bridge; a missing one is fine.
func deleteBridge(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return nil
	}
	return netlink.LinkDel(link)
}
