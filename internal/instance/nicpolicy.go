package instance

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/instance/keys"
	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/network"
)

// nicPolicy is what applies to a NIC on the host side once it is plugged:
// anti-spoofing and connection limits (nftables) and bandwidth (tc).
type nicPolicy struct {
	filter          network.PortFilter
	ingress, egress uint64
}

func (s *Service) nicPolicyOf(e Expanded, dev string, nic runtime.NIC) (nicPolicy, error) {
	d := e.Devices[dev]
	p := nicPolicy{filter: network.PortFilter{Veth: nic.HostName, MAC: nic.HWAddr, Bridge: nic.Parent,
		MACFilter: keys.IsTrue(d, "security.mac_filtering"), IPv4: keys.IsTrue(d, "security.ipv4_filtering"),
		IPv6: keys.IsTrue(d, "security.ipv6_filtering"), IPv4Addr: d["ipv4.address"], IPv6Addr: d["ipv6.address"]}}
	if net := s.nicNetwork(d); p.filter.IPv6 && net != "" {
		p.filter.IPv6Net = s.networks.Subnet6(net)
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

// applyNICPolicies applies every NIC's policy of a running instance.
func (s *Service) applyNICPolicies(e Expanded, nics map[string]runtime.NIC) error {
	names := make([]string, 0, len(nics))
	for n := range nics {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, dev := range names {
		if err := s.applyNICPolicy(e, dev, nics[dev]); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) applyNICPolicy(e Expanded, dev string, nic runtime.NIC) error {
	if !nic.HasHostEnd() {
		return nil // nowhere on the host to apply it (validation refuses the keys)
	}
	p, err := s.nicPolicyOf(e, dev, nic)
	if err != nil {
		return err
	}
	if s.networks != nil {
		if err := s.networks.Filters.Set(p.filter); err != nil {
			return fmt.Errorf("device %q: filters: %w", dev, err)
		}
	}
	if err := network.ApplyBandwidth(nic.HostName, p.ingress, p.egress); err != nil {
		return fmt.Errorf("device %q: %w", dev, err)
	}
	return nil
}

// dropNICPolicy forgets a NIC's host-side policy (its veth is gone or going).
func (s *Service) dropNICPolicy(nic runtime.NIC) {
	if !nic.HasHostEnd() {
		return
	}
	if s.networks != nil {
		if err := s.networks.Filters.Remove(nic.HostName); err != nil {
			s.log.Warn("remove NIC filters", "veth", nic.HostName, "err", err)
		}
	}
	network.RemoveBandwidth(nic.HostName)
}

// RestoreNICPolicies rebuilds the filters (in one go) and the proxy
// devices of every running instance after a daemon start.
func (s *Service) RestoreNICPolicies() {
	if s.networks == nil {
		return
	}
	var filters []network.PortFilter
	for _, name := range s.Running() {
		e, _, err := s.load(name)
		if err != nil {
			continue
		}
		rd, err := s.resolveDevices(e)
		if err != nil {
			continue
		}
		for dev, nic := range rd.NICs {
			if !nic.HasHostEnd() {
				continue
			}
			if p, err := s.nicPolicyOf(e, dev, nic); err == nil {
				filters = append(filters, p.filter)
			}
		}
		_, pid := s.runtimeOf(e.Type).Status(name)
		if err := s.startProxies(name, pid, rd.Proxies); err != nil {
			s.log.Warn("restore proxy devices", "instance", name, "err", err)
		}
	}
	if err := s.networks.Filters.Load(filters); err != nil {
		s.log.Error("restore NIC filters", "err", err)
	}
}
