package instance

import (
	"crypto/rand"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/lodge-project/lodge/internal/instance/device"
	"github.com/lodge-project/lodge/internal/network"
	"github.com/lodge-project/lodge/internal/revert"
)

// deviceInstance is what device types see of an expanded instance.
func deviceInstance(e Expanded) device.Instance {
	return device.Instance{Name: e.key(), IDMap: e.IDMap, Config: e.Config, Devices: e.Devices}
}

// resolveDevices resolves an instance's devices against the host
// (sources, bridges, networks). MACs come from volatile.<dev>.hwaddr (see
// ensureMACs).
func (s *Service) resolveDevices(e Expanded) (map[string]device.Device, error) {
	return device.Resolve(s.devEnv, deviceInstance(e))
}

// devicesUp brings the host side of a running instance's devices up, in
// name order, each with its undo in r.
func (s *Service) devicesUp(e Expanded, devs map[string]device.Device, pid int, r *revert.Reverter) error {
	inst := deviceInstance(e)
	for _, name := range device.Names(devs) {
		d := devs[name]
		if err := d.Up(s.devEnv, inst, pid); err != nil {
			return err
		}
		r.Add("host side of device "+name, func() error { d.Down(s.devEnv, inst); return nil })
	}
	return nil
}

// devicesDown takes the host side of an instance's devices down (it has
// stopped), userspace proxies of devices it no longer has included.
func (s *Service) devicesDown(name string) {
	s.devEnv.Proxies.StopInstance(name)
	e, _, err := s.load(name)
	if err != nil {
		return
	}
	inst := deviceInstance(e)
	devs := device.ResolveWhatCan(s.devEnv, inst)
	for _, n := range device.Names(devs) {
		devs[n].Down(s.devEnv, inst)
	}
}

// randomMAC is a locally administered unicast address in LXD's 00:16:3e range.
func randomMAC() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("00:16:3e:%02x:%02x:%02x", b[0], b[1], b[2])
}

// nicsOn lists every NIC on a managed network, for its DHCP/DNS entries.
func (s *Service) nicsOn(netName string) []network.NIC {
	var out []network.NIC
	names, _ := s.Names()
	for _, n := range names {
		e, _, err := s.load(n)
		if err != nil {
			continue
		}
		for dev, d := range e.Devices {
			if s.nicNetwork(d) == netName {
				out = append(out, network.NIC{Instance: n, Device: dev, MAC: nicMAC(e, dev), IPv4: d["ipv4.address"], IPv6: d["ipv6.address"]})
			}
		}
	}
	return out
}

// networkUsers lists the instances and profiles that use a network.
func (s *Service) networkUsers(netName string) []string {
	seen := map[string]bool{}
	var out []string
	for _, nic := range s.nicsOn(netName) {
		if !seen[nic.Instance] {
			seen[nic.Instance] = true
			out = append(out, instanceURL(nic.Instance))
		}
	}
	ps, _ := s.allProfiles()
	for _, key := range sortedKeys(ps) {
		for _, d := range ps[key].Devices {
			if s.nicNetwork(d) == netName {
				out = append(out, profileURL(key))
				break
			}
		}
	}
	return out
}

// managedNICs maps an instance's NICs on managed networks to "network mac".
func (s *Service) managedNICs(e Expanded) map[string]string {
	out := map[string]string{}
	for dev, d := range e.Devices {
		net := s.nicNetwork(d)
		if net == "" {
			continue
		}
		if mac := nicMAC(e, dev); mac != "" {
			out[dev] = net + " " + mac
		}
	}
	return out
}

// nicMAC is a NIC's hwaddr, or the one lodged gave it (volatile).
func nicMAC(e Expanded, dev string) string { return device.NICMAC(deviceInstance(e), dev) }

// releaseLeases gives back the DHCP leases of the NICs before has and
// after lacks (removed, or moved to another network or MAC); after is the
// zero Expanded when the instance is gone.
func (s *Service) releaseLeases(before, after Expanded) {
	if s.networks == nil {
		return
	}
	kept := s.managedNICs(after)
	stays := map[string]bool{} // networks the instance keeps a NIC on
	for _, nic := range kept {
		network, _, _ := strings.Cut(nic, " ")
		stays[network] = true
	}
	for dev, nic := range s.managedNICs(before) {
		if kept[dev] != nic {
			network, mac, _ := strings.Cut(nic, " ")
			owner := before.Name // its DHCPv6 leases are known by its hostname
			if stays[network] {
				owner = ""
			}
			s.networks.ReleaseLeases(network, mac, owner)
		}
	}
}

// refreshHosts rewrites the DHCP/DNS entries of the networks the given
// states' NICs are on.
func (s *Service) refreshHosts(states ...Expanded) {
	if s.networks == nil {
		return
	}
	nets := map[string]bool{}
	for _, e := range states {
		for _, d := range e.Devices {
			if net := s.nicNetwork(d); net != "" {
				nets[net] = true
			}
		}
	}
	for n := range nets {
		s.networks.HostsChanged(n)
	}
}

// nicNetwork names the managed network a device is on ("" for none).
func (s *Service) nicNetwork(d map[string]string) string { return device.NICNetwork(s.networks, d) }

// devicesDir holds the device nodes made for an instance (LXD's devices/).
func (s *Service) devicesDir(key string) string { return filepath.Join(s.dir, "devices", host(key)) }

// hostVethName is the host end of an instance's NIC. An instance that was
// started by a release before daemon ids (see daemonid) and still runs
// keeps the name that release gave it, so its filters and limits stay on
// its veth after an upgrade; the next start names it anew.
func (s *Service) hostVethName(key, device string) string {
	instance := host(key)
	name := vethName(s.daemonID, instance, device)
	if s.daemonID == "" {
		return name
	}
	if _, err := netlink.LinkByName(name); err != nil {
		if legacy := vethName("", instance, device); legacy != name {
			if _, err := netlink.LinkByName(legacy); err == nil {
				return legacy
			}
		}
	}
	return name
}
