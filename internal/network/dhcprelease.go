package network

import (
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/lodge-project/lodge/internal/store"
)

// ReleaseLeases drops the leases a NIC holds on a network, the way the
// client itself would (a DHCPRELEASE, a DHCPv6 RELEASE), so a deleted
// instance's addresses are free at once rather than when its leases run
// out: dnsmasq never hands a leased address to a pin of another instance.
// IPv4 leases are the MAC's; DHCPv6 ones are the MAC's when the client's
// DUID holds it, and instance's (their hostname) when it is given: when
// the instance keeps no NIC on the network.
func (s *Service) ReleaseLeases(network, mac, instance string) {
	r, _, err := store.Get[Record](s.db, store.Networks, network)
	if err != nil {
		return
	}
	d := s.dnsmasqFor(network)
	if r.prefix(6).IsValid() {
		if err := d.releaseV6(network, mac, instance); err != nil {
			s.log.Warn("release DHCPv6 lease", "network", network, "err", err)
		}
	}
	server := r.prefix(4).Addr()
	hw, err := net.ParseMAC(mac)
	if !server.IsValid() || err != nil {
		return
	}
	for _, l := range d.leases() {
		client, err := netip.ParseAddr(l.Address)
		if !strings.EqualFold(l.Hwaddr, mac) || err != nil || !client.Is4() {
			continue
		}
		if err := sendDHCPRelease(network, server, client, hw); err != nil {
			s.log.Warn("release DHCP lease", "network", network, "address", client, "err", err)
			continue
		}
		d.waitLeaseGone(mac, l.Address)
	}
}

// waitLeaseGone gives dnsmasq a moment to drop a released lease from its
// file, so what follows (a pin of that address, a lease listing) sees it.
func (d *dnsmasq) waitLeaseGone(mac, addr string) {
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		held := false
		for _, l := range d.leases() {
			held = held || (l.Address == addr && (mac == "" || strings.EqualFold(l.Hwaddr, mac)))
		}
		if !held {
			return
		}
	}
}

// sendDHCPRelease sends a DHCPRELEASE for client (RFC 2131 4.4.4) to the
// server's port 67 out of the bridge: dnsmasq takes it as from that link.
func sendDHCPRelease(bridge string, server, client netip.Addr, mac net.HardwareAddr) error {
	return sendOnBridge(bridge, syscall.AF_INET, dhcpRelease(server, client, mac), &syscall.SockaddrInet4{Port: 67, Addr: server.As4()})
}

// sendOnBridge sends one UDP datagram out of the bridge.
func sendOnBridge(bridge string, family int, msg []byte, to syscall.Sockaddr) error {
	fd, err := syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, syscall.IPPROTO_UDP)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	if err := syscall.SetsockoptString(fd, syscall.SOL_SOCKET, syscall.SO_BINDTODEVICE, bridge); err != nil {
		return fmt.Errorf("bind to %s: %w", bridge, err)
	}
	return syscall.Sendto(fd, msg, 0, to)
}

// dhcpRelease builds the BOOTREQUEST: ciaddr and chaddr name the lease,
// option 54 the server that holds it.
func dhcpRelease(server, client netip.Addr, mac net.HardwareAddr) []byte {
	p := make([]byte, 240, 250)
	p[0], p[1], p[2] = 1, 1, 6 // BOOTREQUEST, ethernet, 6-byte address
	_, _ = rand.Read(p[4:8])   // xid
	c := client.As4()
	copy(p[12:16], c[:])
	copy(p[28:28+16], mac)
	copy(p[236:240], []byte{99, 130, 83, 99})
	srv := server.As4()
	p = append(p, 53, 1, 7) // DHCP message type: RELEASE
	p = append(p, 54, 4, srv[0], srv[1], srv[2], srv[3])
	return append(p, 255)
}
