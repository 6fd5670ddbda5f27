package network

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ParseBitRate reads a network limit in bits per second: "10Mbit",
// "500kbit", "1Gbit" (decimal units, as LXD takes them).
func ParseBitRate(v string) (uint64, error) {
	units := []struct {
		suffix string
		mult   uint64
	}{{"Tbit", 1e12}, {"Gbit", 1e9}, {"Mbit", 1e6}, {"kbit", 1e3}, {"bit", 1}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			f, err := strconv.ParseFloat(n, 64)
			if err != nil || f <= 0 {
				break
			}
			return uint64(f * float64(u.mult)), nil
		}
	}
	return 0, fmt.Errorf("%q: want a rate in bits per second, such as 10Mbit, 500kbit or 1Gbit", v)
}

// ifbName names the ifb device that shapes a veth's incoming traffic.
func ifbName(veth string) string {
	sum := sha256.Sum256([]byte(veth))
	return "lifb" + hex.EncodeToString(sum[:5])
}

func tbf(link netlink.Link, bitsPerSec uint64) *netlink.Tbf {
	rate := bitsPerSec / 8
	// A burst of 10 ms of traffic (at least a jumbo frame), a queue of 50 ms.
	burst := max(uint32(rate/100), 65536)
	return &netlink.Tbf{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT},
		Rate:       rate, Buffer: netlink.Xmittime(rate, burst), Limit: uint32(rate/20) + burst,
	}
}

// ApplyBandwidth shapes a NIC from its host-side veth: ingress (towards
// the instance) with a token bucket on the veth, egress (from the
// instance) by redirecting what the veth receives to an ifb device shaped
// the same way. Zero rates remove the shaping. The instance cannot lift
// either: both live in the host's namespace.
func ApplyBandwidth(veth string, ingress, egress uint64) error {
	link, err := netlink.LinkByName(veth)
	if err != nil {
		return fmt.Errorf("limits on %s: %w", veth, err)
	}
	_ = netlink.QdiscDel(&netlink.GenericQdisc{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Parent: netlink.HANDLE_ROOT}})
	if ingress > 0 {
		if err := netlink.QdiscAdd(tbf(link, ingress)); err != nil {
			return fmt.Errorf("limits.ingress on %s: %w", veth, err)
		}
	}
	_ = netlink.QdiscDel(&netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_INGRESS}})
	if ifb, err := netlink.LinkByName(ifbName(veth)); err == nil {
		_ = netlink.LinkDel(ifb)
	}
	if egress == 0 {
		return nil
	}
	ifb := &netlink.Ifb{LinkAttrs: netlink.LinkAttrs{Name: ifbName(veth), TxQLen: 1000}}
	if err := netlink.LinkAdd(ifb); err != nil {
		return fmt.Errorf("limits.egress on %s: create %s: %w", veth, ifb.Name, err)
	}
	ifbLink, err := netlink.LinkByName(ifb.Name)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(ifbLink); err != nil {
		return err
	}
	if err := netlink.QdiscAdd(tbf(ifbLink, egress)); err != nil {
		return fmt.Errorf("limits.egress on %s: %w", veth, err)
	}
	ingressQdisc := &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_INGRESS}}
	if err := netlink.QdiscAdd(ingressQdisc); err != nil {
		return fmt.Errorf("limits.egress on %s: %w", veth, err)
	}
	redirect := &netlink.U32{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: link.Attrs().Index, Parent: netlink.MakeHandle(0xffff, 0), Priority: 1, Protocol: unix.ETH_P_ALL},
		Sel:         &netlink.TcU32Sel{Flags: netlink.TC_U32_TERMINAL, Nkeys: 1, Keys: []netlink.TcU32Key{{Mask: 0, Val: 0}}},
		Actions:     []netlink.Action{netlink.NewMirredAction(ifbLink.Attrs().Index)},
	}
	if err := netlink.FilterAdd(redirect); err != nil {
		return fmt.Errorf("limits.egress on %s: redirect to %s: %w", veth, ifb.Name, err)
	}
	return nil
}

// RemoveBandwidth deletes the ifb device of a veth (the veth's own qdiscs
// go with it).
func RemoveBandwidth(veth string) {
	if ifb, err := netlink.LinkByName(ifbName(veth)); err == nil {
		_ = netlink.LinkDel(ifb)
	}
}
