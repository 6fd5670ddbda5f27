package network

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/keyedlock"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/revert"
	"github.com/lodge-project/lodge/internal/store"
	"github.com/lodge-project/lodge/internal/warning"
)

// Record is a network as the store keeps it. Config holds concrete
// addresses: "auto" is resolved once, at create.
type Record struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Config      map[string]string `json:"config"`
	// Project owns the network ("": the default project). A network's
	// name is its bridge on the host, so names are unique across
	// projects: a project reaches only its own networks by them.
	Project string `json:"project,omitempty"`
	// Forwards are the network's forwards by listen address (forwards.go).
	Forwards map[string]api.NetworkForwardPut `json:"forwards,omitempty"`
}

// NIC is an instance's NIC on a managed network, as DHCP and DNS see it.
type NIC struct {
	Instance, Device, MAC, IPv4, IPv6 string
}

// Service manages networks.
type Service struct {
	db  *store.Store
	dir string // $LODGE_DIR/networks
	// table names this daemon's nftables tables.
	table string
	log   *slog.Logger
	// NICs lists the NICs on a network; UsedBy the instances using it.
	NICs   func(network string) []NIC
	UsedBy func(network string) []string
	// Filters holds the NICs' anti-spoofing and connection-limit rules.
	Filters *PortFilters
	// Warnings hears of networks in trouble (a dnsmasq that keeps
	// exiting); nil in unit tests.
	Warnings *warning.Service
	// Zones tells which network zones a project has (dns.zone.* keys).
	Zones interface{ Exists(proj, name string) bool }

	// locks serialises the changes of one network: a change commits, then
	// applies, then rolls back if the host refused it, and no other change
	// of that network may land in between.
	locks keyedlock.Locks
	// addrMu is held from a check that spans records to the commit: an
	// address against those in use (subnets, forwards), an ACL against
	// the networks that name it; so no two changes both pass it.
	addrMu  sync.Mutex
	mu      sync.Mutex
	dnsmasq map[string]*dnsmasq
	nats    map[string]ProxyNAT // by "instance/device"
}

// NewService makes the network service; table names its nftables tables
// (lodge for the default daemon, lodge_<id> for another: see daemonid).
func NewService(db *store.Store, dir, table string, log *slog.Logger) *Service {
	return &Service{db: db, dir: dir, table: table, log: log, dnsmasq: map[string]*dnsmasq{}, Filters: NewPortFilters(table), nats: map[string]ProxyNAT{},
		NICs: func(string) []NIC { return nil }, UsedBy: func(string) []string { return nil }}
}

func (s *Service) records() ([]Record, error) { return store.List[Record](s.db, store.Networks) }

// owned is network name of project proj: a network of another project
// is not found, as if it were not there.
func (s *Service) owned(proj, name string) (Record, uint64, error) {
	r, rev, err := store.Get[Record](s.db, store.Networks, name)
	if err == nil && project.Name(r.Project) != project.Name(proj) {
		return Record{}, 0, apierr.NotFound("network %q in project %q", name, project.Name(proj))
	}
	return r, rev, err
}

// Project is the project that owns managed network name ("" if none).
func (s *Service) Project(name string) string {
	r, _, err := store.Get[Record](s.db, store.Networks, name)
	if err != nil {
		return ""
	}
	return project.Name(r.Project)
}

// InProject lists the names of project proj's networks.
func (s *Service) InProject(proj string) ([]string, error) {
	recs, err := s.records()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range recs {
		if project.Name(r.Project) == project.Name(proj) {
			out = append(out, r.Name)
		}
	}
	return out, nil
}

func (r Record) prefix(family int) netip.Prefix {
	key := "ipv4.address"
	if family == 6 {
		key = "ipv6.address"
	}
	p, err := netip.ParsePrefix(r.Config[key])
	if err != nil {
		return netip.Prefix{}
	}
	return p // with the bridge's address, not masked
}

func (s *Service) others(name string, family int) []UsedPrefix {
	recs, _ := s.records()
	var out []UsedPrefix
	for _, r := range recs {
		if r.Name != name {
			if p := r.prefix(family); p.IsValid() {
				out = append(out, UsedPrefix{p.Masked(), "network " + r.Name})
			}
			// Another network's forward owns its listen address.
			for listen := range r.Forwards {
				if a, err := netip.ParseAddr(listen); err == nil && a.Is4() == (family == 4) {
					out = append(out, UsedPrefix{netip.PrefixFrom(a, a.BitLen()), fmt.Sprintf("the forward of %s on network %s", a, r.Name)})
				}
			}
		}
	}
	return out
}

// resolve validates config and turns "auto" addresses into free subnets.
func (s *Service) resolve(name string, config map[string]string, creating bool) (map[string]string, error) {
	if err := ValidateConfig(config); err != nil {
		return nil, err
	}
	cfg := map[string]string{}
	for k, v := range config {
		cfg[k] = v
	}
	if creating {
		if _, ok := cfg["ipv4.address"]; !ok {
			cfg["ipv4.address"] = "auto"
		}
		if _, ok := cfg["ipv6.address"]; !ok {
			cfg["ipv6.address"] = "none"
		}
	}
	for _, family := range []int{4, 6} {
		key := fmt.Sprintf("ipv%d.address", family)
		natKey := fmt.Sprintf("ipv%d.nat", family)
		switch cfg[key] {
		case "auto":
			sub, err := AutoSubnet(family, s.others(name, family))
			if err != nil {
				return nil, err
			}
			cfg[key] = sub
			if _, ok := cfg[natKey]; !ok {
				cfg[natKey] = "true"
			}
		case "none", "":
		default:
			if err := CheckOverlap(family, cfg[key], s.others(name, family), name); err != nil {
				return nil, err
			}
		}
	}
	return cfg, nil
}

// Create makes a network of project proj: bridge, addresses, firewall,
// dnsmasq, then the record. A failure takes everything down again.
func (s *Service) Create(proj string, req api.NetworksPost) error {
	if err := ValidateName(req.Name); err != nil {
		return err
	}
	if req.Type != "" && req.Type != "bridge" {
		return apierr.BadRequest("network type %q is not supported (bridge)", req.Type)
	}
	// A second create of the name waits, then finds it taken (409),
	// rather than tear down the bridge of the first when its record loses.
	defer s.locks.Lock(req.Name)()
	s.addrMu.Lock() // the addresses in use are checked and taken at once
	defer s.addrMu.Unlock()
	if owner := s.Project(req.Name); owner == project.Name(proj) {
		return apierr.Conflict("network %q already exists", req.Name)
	} else if owner != "" {
		return apierr.Conflict("network name %q is taken by a network of another project: a network's name is its bridge on the host, so names are unique across projects", req.Name)
	}
	if _, err := netlink.LinkByName(req.Name); err == nil {
		return apierr.Conflict("an interface called %q already exists on the host", req.Name)
	}
	cfg, err := s.resolve(req.Name, req.Config, true)
	if err != nil {
		return err
	}
	if err := s.checkACLsExist(proj, cfg); err != nil {
		return err
	}
	if err := s.checkZonesExist(proj, cfg); err != nil {
		return err
	}
	rec := Record{Name: req.Name, Description: req.Description, Config: cfg}
	if project.Name(proj) != project.Default {
		rec.Project = proj
	}
	var r revert.Reverter
	// Whatever of the bridge, its addresses, rules and dnsmasq setup made.
	r.Add("the network's host side", func() error { s.teardown(rec.Name); return nil })
	if err := s.setup(rec); err != nil {
		return r.Fail(err)
	}
	if err := s.db.Update(func(tx *store.Tx) error { return tx.Create(store.Networks, rec.Name, rec) }); err != nil {
		return r.Fail(err)
	}
	r.Success()
	return nil
}

// setup brings a network to its config; it is idempotent.
func (s *Service) setup(r Record) error {
	mtu, _ := strconv.Atoi(r.Config["bridge.mtu"])
	link, err := ensureBridge(r.Name, mtu)
	if err != nil {
		return err
	}
	gw4, gw6 := r.prefix(4), r.prefix(6)
	var addrs []netip.Prefix
	for _, p := range []netip.Prefix{gw4, gw6} {
		if p.IsValid() {
			addrs = append(addrs, p)
		}
	}
	if err := setAddresses(link, addrs); err != nil {
		return err
	}
	if err := enableForwarding(gw4.IsValid(), gw6.IsValid()); err != nil {
		return err
	}
	if err := s.firewall(r); err != nil {
		return err
	}
	d := s.dnsmasqFor(r.Name)
	if err := d.writeHosts(s.hostEntries(r.Name)); err != nil {
		return err
	}
	return d.start(dnsmasqArgs(d, gw4, gw6, r.Config))
}

// firewall re-renders Lodge's table from every network, with r replacing
// the stored record of the same name.
func (s *Service) firewall(extra ...Record) error {
	recs, err := s.records()
	if err != nil {
		return err
	}
	byName := map[string]Record{}
	for _, r := range recs {
		byName[r.Name] = r
	}
	for _, r := range extra {
		byName[r.Name] = r
	}
	var nets []fwNetwork
	for _, r := range byName {
		if _, err := netlink.LinkByName(r.Name); err != nil {
			continue // not set up (being deleted)
		}
		nets = append(nets, fwNetwork{Bridge: r.Name, V4: r.prefix(4).Masked(), V6: r.prefix(6).Masked(),
			NAT4: IsTrue(r.Config, "ipv4.nat", false), NAT6: IsTrue(r.Config, "ipv6.nat", false), Forwards: s.compiledForwards(r), ACL: s.networkACL(r)})
	}
	s.mu.Lock()
	var nats []ProxyNAT
	for _, k := range slices.Sorted(maps.Keys(s.nats)) {
		nats = append(nats, s.nats[k])
	}
	s.mu.Unlock()
	return applyFirewall(s.table, nets, nats)
}

// SetProxyNAT adds (or with nil removes) the DNAT of a proxy device.
func (s *Service) SetProxyNAT(key string, n *ProxyNAT) error {
	if n != nil {
		if f := s.forwardsClashing(*n); f != "" {
			return apierr.BadRequest("%s port %d is forwarded by the network forward of %s already", n.Proto, n.ListenPort, f)
		}
	}
	s.mu.Lock()
	if n == nil {
		if _, ok := s.nats[key]; !ok {
			s.mu.Unlock()
			return nil
		}
		delete(s.nats, key)
	} else {
		s.nats[key] = *n
	}
	s.mu.Unlock()
	return s.firewall()
}

func (s *Service) dnsmasqFor(name string) *dnsmasq {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.dnsmasq[name]
	if !ok {
		d = &dnsmasq{dir: filepath.Join(s.dir, name), bridge: name, log: s.log, warnings: s.Warnings}
		s.dnsmasq[name] = d
	}
	return d
}

// teardown removes a network's bridge, rules and dnsmasq.
func (s *Service) teardown(name string) {
	s.dnsmasqFor(name).stop()
	s.mu.Lock()
	delete(s.dnsmasq, name)
	s.mu.Unlock()
	if err := deleteBridge(name); err != nil {
		s.log.Warn("delete bridge", "network", name, "err", err)
	}
	if err := s.firewall(); err != nil {
		s.log.Warn("update firewall", "network", name, "err", err)
	}
	_ = os.RemoveAll(filepath.Join(s.dir, name))
}

// StartAll sets up every network, as after a daemon start.
func (s *Service) StartAll() {
	recs, err := s.records()
	if err != nil {
		s.log.Error("list networks", "err", err)
		return
	}
	for _, r := range recs {
		if err := s.setup(r); err != nil {
			s.log.Error("set up network", "network", r.Name, "err", err)
		}
	}
}

// Get returns one network of project proj. In the default project, a
// host interface that is not a managed network answers as an unmanaged
// one; a project of its own networks sees only those.
func (s *Service) Get(proj, name string) (api.Network, uint64, error) {
	r, rev, err := s.owned(proj, name)
	if errors.Is(err, apierr.ErrNotFound) && project.Name(proj) == project.Default && !s.IsManaged(name) {
		if n, ok := s.hostInterface(name); ok {
			return n, 0, nil
		}
	}
	if err != nil {
		return api.Network{}, 0, err
	}
	return s.render(r), rev, nil
}

func (s *Service) render(r Record) api.Network {
	used := s.UsedBy(r.Name)
	if used == nil {
		used = []string{}
	}
	sort.Strings(used)
	return api.Network{Name: r.Name, Description: r.Description, Type: "bridge", Managed: true, Status: "Created",
		Config: r.Config, UsedBy: used, Locations: []string{"none"}}
}

// List returns project proj's networks; the default project's list has
// the host's other interfaces too, as unmanaged networks.
func (s *Service) List(proj string) ([]api.Network, error) {
	recs, err := s.records()
	if err != nil {
		return nil, err
	}
	out := make([]api.Network, 0, len(recs))
	managed := map[string]bool{}
	for _, r := range recs {
		managed[r.Name] = true
		if project.Name(r.Project) == project.Name(proj) {
			out = append(out, s.render(r))
		}
	}
	if project.Name(proj) != project.Default {
		return out, nil
	}
	return append(out, s.hostInterfaces(managed)...), nil
}

// Update replaces a network's config and applies it at once; if the host
// refuses, the old config is applied again and kept.
func (s *Service) Update(proj, name string, put api.NetworkPut, ifRev uint64) error {
	defer s.locks.Lock(name)()
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	old, _, err := s.owned(proj, name)
	if err != nil {
		return err
	}
	cfg, err := s.resolve(name, put.Config, false)
	if err != nil {
		return err
	}
	next := Record{Name: name, Description: put.Description, Config: cfg, Project: old.Project, Forwards: old.Forwards}
	if old.prefix(4).Masked() != next.prefix(4).Masked() {
		if err := s.checkNICsFit(name, cfg); err != nil {
			return err
		}
	}
	if err := s.checkForwardsFit(next); err != nil {
		return err
	}
	if err := s.checkACLsExist(project.Name(old.Project), cfg); err != nil {
		return err
	}
	if err := s.checkZonesExist(project.Name(old.Project), cfg); err != nil {
		return err
	}
	var written uint64 // the revision this change wrote
	err = s.db.Update(func(tx *store.Tx) error {
		var err error
		written, err = tx.Put(store.Networks, name, next, ifRev)
		return err
	})
	if err != nil {
		return err
	}
	if err := s.setup(next); err != nil {
		// Undo, unless another request changed the network since: then
		// its change stands and is what the host gets.
		back := old
		if rerr := s.db.Update(func(tx *store.Tx) error {
			_, err := tx.Put(store.Networks, name, old, written)
			return err
		}); rerr != nil {
			if cur, _, gerr := store.Get[Record](s.db, store.Networks, name); gerr == nil {
				back = cur
			}
		}
		_ = s.setup(back)
		return apierr.BadRequest("network %q: %v", name, err)
	}
	return nil
}

// checkNICsFit refuses a new subnet that pinned NIC addresses fall outside.
func (s *Service) checkNICsFit(name string, cfg map[string]string) error {
	p := (Record{Config: cfg}).prefix(4)
	for _, nic := range s.NICs(name) {
		if nic.IPv4 == "" {
			continue
		}
		a, err := netip.ParseAddr(nic.IPv4)
		if err != nil || !p.IsValid() || !p.Masked().Contains(a) {
			return apierr.BadRequest("instance %q pins %s on %s, outside the new subnet %s", nic.Instance, nic.IPv4, name, cfg["ipv4.address"])
		}
	}
	return nil
}

// Delete removes an unused network of project proj.
func (s *Service) Delete(proj, name string) error {
	defer s.locks.Lock(name)()
	if _, _, err := s.owned(proj, name); err != nil {
		return err
	}
	if used := s.UsedBy(name); len(used) > 0 {
		return apierr.BadRequest("network %q is in use by %v: remove their NICs first", name, used)
	}
	if err := s.db.Update(func(tx *store.Tx) error { return tx.Delete(store.Networks, name) }); err != nil {
		return err
	}
	s.teardown(name)
	s.Warnings.Resolve(warning.DnsmasqRestarting, "", "/1.0/networks/"+name)
	return nil
}

// Rename renames an unused network (its bridge is renamed too).
func (s *Service) Rename(proj, name, newName string) error {
	defer s.locks.Lock(name)()
	if err := ValidateName(newName); err != nil {
		return err
	}
	r, _, err := s.owned(proj, name)
	if err != nil {
		return err
	}
	if used := s.UsedBy(name); len(used) > 0 {
		return apierr.BadRequest("network %q is in use by %v: it can only be renamed when unused", name, used)
	}
	if _, err := netlink.LinkByName(newName); err == nil {
		return apierr.Conflict("an interface called %q already exists on the host", newName)
	}
	err = s.db.Update(func(tx *store.Tx) error {
		r.Name = newName
		if err := tx.Create(store.Networks, newName, r); err != nil {
			return err
		}
		return tx.Delete(store.Networks, name)
	})
	if err != nil {
		return err
	}
	s.teardown(name)
	return s.setup(r)
}

// IsManaged says whether name is a managed network.
func (s *Service) IsManaged(name string) bool { return s.db.Has(store.Networks, name) }

// Bridge returns the bridge of a managed network, and its IPv4 subnet
// with the gateway address.
func (s *Service) Bridge(name string) (string, netip.Prefix, error) {
	r, _, err := store.Get[Record](s.db, store.Networks, name)
	if err != nil {
		return "", netip.Prefix{}, apierr.BadRequest("network %q does not exist", name)
	}
	return r.Name, r.prefix(4), nil
}

// Subnet6 is a managed network's IPv6 subnet (invalid when it has none).
func (s *Service) Subnet6(name string) netip.Prefix {
	r, _, err := store.Get[Record](s.db, store.Networks, name)
	if err != nil {
		return netip.Prefix{}
	}
	return r.prefix(6).Masked()
}

// CheckNIC validates a NIC's pinned IPv4 address on a network: inside the
// subnet, not the gateway or broadcast, and not another NIC's.
func (s *Service) CheckNIC(network, instance, device, ipv4, ipv6 string) error {
	_, gw, err := s.Bridge(network)
	if err != nil {
		return err
	}
	if ipv6 != "" {
		if err := s.checkNICv6(network, instance, device, ipv6); err != nil {
			return err
		}
	}
	if ipv4 == "" {
		return nil
	}
	a, err := netip.ParseAddr(ipv4)
	if err != nil || !a.Is4() {
		return apierr.BadRequest("device %q: ipv4.address %q is not an IPv4 address", device, ipv4)
	}
	if !gw.IsValid() {
		return apierr.BadRequest("device %q: network %q has no IPv4 subnet", device, network)
	}
	p := gw.Masked()
	if !p.Contains(a) || a == p.Addr() || a == lastAddr(p) {
		return apierr.BadRequest("device %q: ipv4.address %s is outside network %q's subnet %s", device, ipv4, network, p)
	}
	if a == gw.Addr() {
		return apierr.BadRequest("device %q: ipv4.address %s is the network's gateway", device, ipv4)
	}
	nics := s.NICs(network)
	for _, nic := range nics {
		if nic.IPv4 == ipv4 && !(nic.Instance == instance && nic.Device == device) {
			return apierr.Conflict("device %q: ipv4.address %s is already used by %s (device %s)", device, ipv4, nic.Instance, nic.Device)
		}
	}
	// dnsmasq would not hand the pin an address another NIC leases.
	for _, l := range s.dnsmasqFor(network).leases() {
		if l.Address != ipv4 {
			continue
		}
		for _, nic := range nics {
			if strings.EqualFold(nic.MAC, l.Hwaddr) && !(nic.Instance == instance && nic.Device == device) {
				return apierr.Conflict("device %q: ipv4.address %s is leased to %s (device %s): pin another, or free it by removing that NIC", device, ipv4, nic.Instance, nic.Device)
			}
		}
	}
	return nil
}

// checkNICv6 validates a pinned IPv6 address: in the network's subnet
// (which must hand out addresses by stateful DHCPv6), not the gateway, unused.
func (s *Service) checkNICv6(network, instance, device, ipv6 string) error {
	r, _, err := store.Get[Record](s.db, store.Networks, network)
	if err != nil {
		return apierr.BadRequest("network %q does not exist", network)
	}
	a, err := netip.ParseAddr(ipv6)
	if err != nil || !a.Is6() {
		return apierr.BadRequest("device %q: ipv6.address %q is not an IPv6 address", device, ipv6)
	}
	gw := r.prefix(6)
	if !gw.IsValid() || !gw.Masked().Contains(a) {
		return apierr.BadRequest("device %q: ipv6.address %s is outside network %q's IPv6 subnet", device, ipv6, network)
	}
	if a == gw.Addr() {
		return apierr.BadRequest("device %q: ipv6.address %s is the network's gateway", device, ipv6)
	}
	if !IsTrue(r.Config, "ipv6.dhcp.stateful", false) {
		return apierr.BadRequest("device %q: ipv6.address needs ipv6.dhcp.stateful=true on network %q", device, network)
	}
	for _, nic := range s.NICs(network) {
		if nic.IPv6 == ipv6 && !(nic.Instance == instance && nic.Device == device) {
			return apierr.Conflict("device %q: ipv6.address %s is already used by %s (device %s)", device, ipv6, nic.Instance, nic.Device)
		}
	}
	return nil
}

// HostsChanged rewrites a network's DHCP/DNS host entries from its NICs.
func (s *Service) HostsChanged(network string) {
	d := s.dnsmasqFor(network)
	if err := d.writeHosts(s.hostEntries(network)); err != nil {
		s.log.Warn("write dnsmasq hosts", "network", network, "err", err)
		return
	}
	if err := d.reload(); err != nil {
		s.log.Warn("reload dnsmasq hosts", "network", network, "err", err)
	}
}

func (s *Service) hostEntries(network string) []HostEntry {
	var out []HostEntry
	for _, nic := range s.NICs(network) {
		if nic.MAC != "" {
			out = append(out, HostEntry{MAC: nic.MAC, IPv4: nic.IPv4, IPv6: nic.IPv6, Name: nic.Instance})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Leases lists DHCP leases plus pinned addresses.
func (s *Service) Leases(proj, name string) ([]api.NetworkLease, error) {
	if _, _, err := s.owned(proj, name); err != nil {
		return nil, err
	}
	leases := s.dnsmasqFor(name).leases()
	nics := s.NICs(name)
	perInstance := map[string]int{}
	for _, nic := range nics {
		perInstance[nic.Instance]++
	}
	for _, nic := range nics {
		leasedV4 := false
		for i := range leases {
			l := &leases[i]
			v6 := strings.Contains(l.Address, ":")
			// A DHCPv6 lease names its client by DUID, most often without
			// a MAC: the hostname tells whose it is, when that instance has
			// one NIC here.
			if v6 && l.Hwaddr == "" && l.Hostname == nic.Instance && perInstance[nic.Instance] == 1 {
				l.Hwaddr = nic.MAC
			}
			if !strings.EqualFold(l.Hwaddr, nic.MAC) {
				continue
			}
			leasedV4 = leasedV4 || !v6
			if (!v6 && nic.IPv4 != "") || (v6 && nic.IPv6 != "" && l.Address == nic.IPv6) {
				l.Type = "static"
				l.Hostname = nic.Instance
			}
		}
		if nic.IPv4 != "" && !leasedV4 {
			leases = append(leases, api.NetworkLease{Hostname: nic.Instance, Hwaddr: nic.MAC, Address: nic.IPv4, Type: "static", Location: "none"})
		}
	}
	if leases == nil {
		leases = []api.NetworkLease{}
	}
	return leases, nil
}

// State reads the bridge's state from the kernel.
func (s *Service) State(proj, name string) (api.NetworkState, error) {
	if _, _, err := s.owned(proj, name); err != nil {
		if _, host := s.hostInterface(name); !host || project.Name(proj) != project.Default || s.IsManaged(name) {
			return api.NetworkState{}, err
		}
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		return api.NetworkState{}, fmt.Errorf("bridge %s: %w", name, err)
	}
	a := link.Attrs()
	st := api.NetworkState{Hwaddr: a.HardwareAddr.String(), Mtu: a.MTU, State: "down", Type: "broadcast", Addresses: []api.NetworkStateAddress{}}
	if a.Flags&1 != 0 {
		st.State = "up"
	}
	if a.Statistics != nil {
		st.Counters = api.NetworkStateCounters{BytesReceived: int64(a.Statistics.RxBytes), BytesSent: int64(a.Statistics.TxBytes),
			PacketsReceived: int64(a.Statistics.RxPackets), PacketsSent: int64(a.Statistics.TxPackets)}
	}
	addrs, _ := netlink.AddrList(link, netlink.FAMILY_ALL)
	for _, ad := range addrs {
		fam, scope := "inet", "global"
		if ad.IP.To4() == nil {
			fam = "inet6"
		}
		if ad.Scope == int(netlink.SCOPE_LINK) {
			scope = "link"
		}
		ones, _ := ad.Mask.Size()
		st.Addresses = append(st.Addresses, api.NetworkStateAddress{Family: fam, Address: ad.IP.String(), Netmask: strconv.Itoa(ones), Scope: scope})
	}
	return st, nil
}
