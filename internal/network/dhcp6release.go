package network

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// v6Lease is a DHCPv6 lease line of dnsmasq's lease file, with what a
// RELEASE for it must name.
type v6Lease struct {
	iaid       uint32
	addr       netip.Addr
	hostname   string
	clientDUID []byte
}

// v6Leases reads the server's DUID and the IA_NA leases from the lease file.
func (d *dnsmasq) v6Leases() (serverDUID []byte, out []v6Lease) {
	f, err := os.Open(d.leaseFile())
	if err != nil {
		return nil, nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && fields[0] == "duid" {
			serverDUID = parseDUID(fields[1])
			continue
		}
		if len(fields) < 5 {
			continue
		}
		addr, err := netip.ParseAddr(fields[2])
		iaid, ierr := strconv.ParseUint(fields[1], 10, 32) // temporary addresses ("T<iaid>") are left to expire
		duid := parseDUID(fields[4])
		if err != nil || !addr.Is6() || ierr != nil || duid == nil {
			continue
		}
		out = append(out, v6Lease{iaid: uint32(iaid), addr: addr, hostname: fields[3], clientDUID: duid})
	}
	return serverDUID, out
}

func parseDUID(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
	if err != nil || len(b) < 2 {
		return nil
	}
	return b
}

// releaseV6 sends a RELEASE for each DHCPv6 lease of mac (a link-layer
// DUID's) or of hostname (when the instance has no NIC left on the network:
// systemd-networkd's DUIDs carry no MAC), as the client would.
func (d *dnsmasq) releaseV6(bridge, mac, hostname string) error {
	serverDUID, leases := d.v6Leases()
	if serverDUID == nil {
		return nil
	}
	for _, l := range leases {
		ours := strings.EqualFold(macFromDUID(hex.EncodeToString(l.clientDUID)), mac) || (hostname != "" && l.hostname == hostname)
		if !ours {
			continue
		}
		if err := sendDHCPv6(bridge, dhcpv6Release(serverDUID, l)); err != nil {
			return fmt.Errorf("release %s: %w", l.addr, err)
		}
		d.waitLeaseGone("", l.addr.String())
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
func dhcpv6Release(serverDUID []byte, l v6Lease) []byte {
	msg := []byte{8, 0, 0, 0} // RELEASE, transaction id
	_, _ = rand.Read(msg[1:4])
	option := func(b []byte, code uint16, data []byte) []byte {
		b = binary.BigEndian.AppendUint16(b, code)
		b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
		return append(b, data...)
	}
	addr := l.addr.As16()
	iaAddr := append(addr[:], make([]byte, 8)...) // preferred and valid lifetimes
	ia := binary.BigEndian.AppendUint32(nil, l.iaid)
	ia = append(ia, make([]byte, 8)...) // T1, T2
	ia = option(ia, 5, iaAddr)          // IA Address
	msg = option(msg, 1, l.clientDUID)  // Client Identifier
	msg = option(msg, 2, serverDUID)    // Server Identifier
	msg = option(msg, 8, []byte{0, 0})  // Elapsed Time
	return option(msg, 3, ia)           // IA_NA
}
