package network

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// releaseV6 sends a RELEASE for each DHCPv6 lease of mac (a link-layer
// DUID's) or of hostname (when the instance has no NIC left on the network:
// systemd-networkd's DUIDs carry no MAC), as the client would.
func (d *dnsmasq) releaseV6(bridge, mac, hostname string) error {
	serverDUID, leases := d.readLeases()
	if serverDUID == nil {
		return nil
	}
	for _, l := range leases {
		addr, err := netip.ParseAddr(l.Address)
		if err != nil || !addr.Is6() || l.iaid < 0 || l.clientDUID == nil {
			continue
		}
		if !strings.EqualFold(l.Hwaddr, mac) && (hostname == "" || l.Hostname != hostname) {
			continue
		}
		if err := sendDHCPv6(bridge, dhcpv6Release(serverDUID, l.clientDUID, uint32(l.iaid), addr)); err != nil {
			return fmt.Errorf("release %s: %w", addr, err)
		}
		d.waitLeaseGone("", l.Address)
	}
	return nil
}

// sendDHCPv6 sends a client message to All_DHCP_Relay_Agents_and_Servers
// (ff02::1:2, port 547) on the bridge.
func sendDHCPv6(bridge string, msg []byte) error {
	ifi, err := net.InterfaceByName(bridge)
	if err != nil {
		return err
	}
	dst := &syscall.SockaddrInet6{Port: 547, ZoneId: uint32(ifi.Index), Addr: netip.MustParseAddr("ff02::1:2").As16()}
	return sendOnBridge(bridge, syscall.AF_INET6, msg, dst)
}

// dhcpv6Release builds a RELEASE (RFC 8415 18.2.7): the client's and the
// server's DUIDs, and the IA_NA with the address, lifetimes zero.
func dhcpv6Release(serverDUID, clientDUID []byte, iaid uint32, address netip.Addr) []byte {
	msg := []byte{8, 0, 0, 0} // RELEASE, transaction id
	_, _ = rand.Read(msg[1:4])
	option := func(b []byte, code uint16, data []byte) []byte {
		b = binary.BigEndian.AppendUint16(b, code)
		b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
		return append(b, data...)
	}
	addr := address.As16()
	iaAddr := append(addr[:], make([]byte, 8)...) // preferred and valid lifetimes
	ia := binary.BigEndian.AppendUint32(nil, iaid)
	ia = append(ia, make([]byte, 8)...) // T1, T2
	ia = option(ia, 5, iaAddr)          // IA Address
	msg = option(msg, 1, clientDUID)    // Client Identifier
	msg = option(msg, 2, serverDUID)    // Server Identifier
	msg = option(msg, 8, []byte{0, 0})  // Elapsed Time
	return option(msg, 3, ia)           // IA_NA
}
