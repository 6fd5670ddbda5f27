package instance

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/instance/keys"
	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/network"
)

// runtimeDevices turns expanded devices into what the driver mounts,
// binds and plugs, checking the host side (sources, bridges) as it goes.
// MACs come from volatile.<dev>.hwaddr (see ensureMACs).
type runtimeDevices struct {
	Disks    map[string]runtime.Disk
	UnixDevs map[string]runtime.UnixDev
	NICs     map[string]runtime.NIC
	Proxies  map[string]proxySpec
}

func (s *Service) resolveDevices(e Expanded) (runtimeDevices, error) {
	rd := runtimeDevices{Disks: map[string]runtime.Disk{}, UnixDevs: map[string]runtime.UnixDev{}, NICs: map[string]runtime.NIC{}, Proxies: map[string]proxySpec{}}
	names := make([]string, 0, len(e.Devices))
	for n := range e.Devices {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		d := e.Devices[name]
		switch d["type"] {
		case "disk":
			if d["path"] == "/" {
				continue
			}
			if _, err := os.Stat(d["source"]); err != nil {
				if d["required"] != "" && !keys.IsTrue(d, "required") {
					continue
				}
				return rd, apierr.BadRequest("device %q: source %q does not exist on the host", name, d["source"])
			}
			rd.Disks[name] = runtime.Disk{Source: d["source"], Path: filepath.Clean(d["path"]), ReadOnly: keys.IsTrue(d, "readonly"), Shift: keys.IsTrue(d, "shift")}
		case "proxy":
			p, err := s.resolveProxy(e, name, d)
			if err != nil {
				return rd, err
			}
			rd.Proxies[name] = p
		case "unix-char", "unix-block":
			dev, skip, err := unixDevice(name, d)
			if err != nil {
				return rd, err
			}
			if !skip {
				rd.UnixDevs[name] = dev
			}
		case "nic":
			parent := d["parent"]
			if net := s.nicNetwork(d); net != "" {
				br, _, err := s.networks.Bridge(net)
				if err != nil {
					return rd, apierr.BadRequest("device %q: %v", name, err)
				}
				if err := s.networks.CheckNIC(net, e.Name, name, d["ipv4.address"], d["ipv6.address"]); err != nil {
					return rd, err
				}
				parent = br
			} else if d["network"] != "" {
				return rd, apierr.BadRequest("device %q: network %q does not exist (lodge network list shows the managed ones)", name, d["network"])
			} else if d["ipv4.address"] != "" || d["ipv6.address"] != "" || d["limits.connections"] != "" {
				return rd, apierr.BadRequest("device %q: ipv4.address, ipv6.address and limits.connections need a managed network (network=..., or a parent that is one); %q is not", name, parent)
			}
			typ := d["nictype"]
			if typ == "bridged" {
				typ = ""
			}
			if _, err := netlink.LinkByName(parent); err != nil && typ != runtime.NICP2P {
				what := map[bool]string{true: "host interface", false: "bridge"}[typ == runtime.NICMacvlan]
				return rd, apierr.BadRequest("device %q: %s %q does not exist on the host", name, what, parent)
			}
			mtu, _ := strconv.Atoi(d["mtu"])
			ifname := d["name"]
			if ifname == "" {
				ifname = name
			}
			nic := runtime.NIC{Name: ifname, HostName: s.hostVethName(e.Name, name), Parent: parent, HWAddr: nicMAC(e, name), MTU: mtu, Type: typ}
			if _, err := s.nicPolicyOf(e, name, nic); err != nil {
				return rd, err
			}
			rd.NICs[name] = nic
		}
	}
	return rd, nil
}

// unixDevice resolves a unix-char or unix-block device as LXD does: major
// and minor from the keys, or else from the host node (source, or path);
// the node the instance gets is owned by uid/gid inside (0 by default) with
// mode (0660 by default). A missing host node skips the device when
// required=false.
func unixDevice(name string, d map[string]string) (runtime.UnixDev, bool, error) {
	block := d["type"] == "unix-block"
	kind := map[bool]string{true: "block", false: "character"}[block]
	src := d["source"]
	if src == "" {
		src = d["path"]
	}
	path := d["path"]
	if path == "" {
		path = src
	}
	dev := runtime.UnixDev{Path: filepath.Clean(path), Block: block, Mode: 0o660}
	if v := d["mode"]; v != "" {
		mode, err := strconv.ParseUint(v, 8, 32)
		if err != nil || mode > 0o777 {
			return dev, false, apierr.BadRequest("device %q: mode %q: want octal permission bits such as 0660", name, v)
		}
		dev.Mode = uint32(mode)
	}
	for key, into := range map[string]*uint32{"uid": &dev.UID, "gid": &dev.GID} {
		if v := d[key]; v != "" {
			id, err := strconv.ParseUint(v, 10, 32)
			if err != nil || id >= idmap.Size {
				return dev, false, apierr.BadRequest("device %q: %s %q: want an id of the instance (0 to %d)", name, key, v, idmap.Size-1)
			}
			*into = uint32(id)
		}
	}
	major, minor := d["major"], d["minor"]
	if (major == "") != (minor == "") {
		return dev, false, apierr.BadRequest("device %q: give both major and minor, or neither (they are read from the host node)", name)
	}
	if major != "" {
		ma, err1 := strconv.ParseUint(major, 10, 32)
		mi, err2 := strconv.ParseUint(minor, 10, 32)
		if err1 != nil || err2 != nil {
			return dev, false, apierr.BadRequest("device %q: major %q and minor %q must be numbers", name, major, minor)
		}
		dev.Major, dev.Minor = int64(ma), int64(mi)
		return dev, false, nil
	}
	var st unix.Stat_t
	if err := unix.Stat(src, &st); err != nil {
		if d["required"] != "" && !keys.IsTrue(d, "required") {
			return dev, true, nil
		}
		return dev, false, apierr.BadRequest("device %q: source %q does not exist on the host (or give major and minor)", name, src)
	}
	want := uint32(unix.S_IFCHR)
	if block {
		want = unix.S_IFBLK
	}
	if st.Mode&unix.S_IFMT != want {
		return dev, false, apierr.BadRequest("device %q: %q is not a %s device", name, src, kind)
	}
	dev.Major, dev.Minor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	return dev, false, nil
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
			out = append(out, "/1.0/instances/"+nic.Instance)
		}
	}
	ps, _ := s.Profiles()
	for _, p := range ps {
		for _, d := range p.Devices {
			if s.nicNetwork(d) == netName {
				out = append(out, "/1.0/profiles/"+p.Name)
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
func nicMAC(e Expanded, dev string) string {
	if mac := e.Devices[dev]["hwaddr"]; mac != "" {
		return mac
	}
	return e.Record.Config["volatile."+dev+".hwaddr"]
}

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

// nicNetwork names the managed network a device is on ("" for none): a
// NIC's network key, or its parent when that names a managed network. LXD
// reads such a bridged NIC as one with network=, and lxc 5.0.2 makes them
// (nictype=bridged, parent=NET) for `lxc launch -n` and `lxc network attach`.
func (s *Service) nicNetwork(d map[string]string) string {
	if d["type"] != "nic" || s.networks == nil {
		return ""
	}
	if n := d["network"]; n != "" {
		if s.networks.IsManaged(n) {
			return n
		}
		return ""
	}
	if (d["nictype"] == "" || d["nictype"] == "bridged") && d["parent"] != "" && s.networks.IsManaged(d["parent"]) {
		return d["parent"]
	}
	return ""
}

// devicesDir holds the device nodes made for an instance (LXD's devices/).
func (s *Service) devicesDir(name string) string { return filepath.Join(s.dir, "devices", name) }

// unixNode makes the node an instance's unix device is bound from.
func (s *Service) unixNode(e Expanded, dev string, u runtime.UnixDev) (runtime.UnixDev, error) {
	u, err := makeUnixNode(u, filepath.Join(s.devicesDir(e.Name), "unix."+dev), e.IDMap)
	if err != nil {
		return u, fmt.Errorf("device %q: %w", dev, err)
	}
	return u, nil
}

// hostVethName is the host end of an instance's NIC. An instance that was
// started by a release before daemon ids (see daemonid) and still runs
// keeps the name that release gave it, so its filters and limits stay on
// its veth after an upgrade; the next start names it anew.
func (s *Service) hostVethName(instance, device string) string {
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
