package network

import (
	"maps"
	"net/netip"
	"slices"
	"sort"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/store"
)

// Forwards lists network name's forwards, and the network's revision
// (a forward's ETag is its network's: a change of either changes it).
func (s *Service) Forwards(proj, name string) ([]api.NetworkForward, uint64, error) {
	r, rev, err := s.owned(proj, name)
	if err != nil {
		return nil, 0, err
	}
	out := make([]api.NetworkForward, 0, len(r.Forwards))
	for listen, f := range r.Forwards {
		out = append(out, api.NetworkForward{NetworkForwardPut: f, ListenAddress: listen, Location: "none"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ListenAddress < out[j].ListenAddress })
	return out, rev, nil
}

// Forward is the forward of listen on network name.
func (s *Service) Forward(proj, name, listen string) (api.NetworkForward, uint64, error) {
	r, rev, err := s.owned(proj, name)
	if err != nil {
		return api.NetworkForward{}, 0, err
	}
	key, f, err := forwardOf(r, listen)
	if err != nil {
		return api.NetworkForward{}, 0, err
	}
	return api.NetworkForward{NetworkForwardPut: f, ListenAddress: key, Location: "none"}, rev, nil
}

// forwardOf finds a forward by its listen address, written any way.
func forwardOf(r Record, listen string) (string, api.NetworkForwardPut, error) {
	if a, err := netip.ParseAddr(listen); err == nil {
		if f, ok := r.Forwards[a.String()]; ok {
			return a.String(), f, nil
		}
	}
	return "", api.NetworkForwardPut{}, apierr.NotFound("network %q has no forward for %q", r.Name, listen)
}

// CreateForward adds a forward to network name and applies it; it returns
// the listen address as stored.
func (s *Service) CreateForward(proj, name string, req api.NetworkForwardsPost) (string, error) {
	listen, err := parseListenAddress(req.ListenAddress)
	if err != nil {
		return "", err
	}
	key := listen.String()
	return key, s.changeForwards(proj, name, 0, func(r *Record) error {
		if _, ok := r.Forwards[key]; ok {
			return apierr.Conflict("network %q has a forward for %s already", name, key)
		}
		r.Forwards[key] = req.NetworkForwardPut
		return s.checkForward(*r, key)
	})
}

// UpdateForward replaces a forward's description, config and ports.
func (s *Service) UpdateForward(proj, name, listen string, put api.NetworkForwardPut, ifRev uint64) error {
	return s.changeForwards(proj, name, ifRev, func(r *Record) error {
		key, _, err := forwardOf(*r, listen)
		if err != nil {
			return err
		}
		r.Forwards[key] = put
		return s.checkForward(*r, key)
	})
}

// DeleteForward removes a forward.
func (s *Service) DeleteForward(proj, name, listen string) error {
	return s.changeForwards(proj, name, 0, func(r *Record) error {
		key, _, err := forwardOf(*r, listen)
		if err != nil {
			return err
		}
		delete(r.Forwards, key)
		return nil
	})
}

// changeForwards changes network name's forwards in its record, then in
// the firewall; if the host refuses the rules, the record is put back.
func (s *Service) changeForwards(proj, name string, ifRev uint64, change func(r *Record) error) error {
	defer s.locks.Lock(name)()
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	old, rev, err := s.owned(proj, name)
	if err != nil {
		return err
	}
	if ifRev == 0 {
		ifRev = rev
	}
	next := old
	next.Forwards = maps.Clone(old.Forwards)
	if next.Forwards == nil {
		next.Forwards = map[string]api.NetworkForwardPut{}
	}
	if err := change(&next); err != nil {
		return err
	}
	var written uint64
	if err := s.db.Update(func(tx *store.Tx) error {
		written, err = tx.Put(store.Networks, name, next, ifRev)
		return err
	}); err != nil {
		return err
	}
	if err := s.firewall(); err != nil {
		_ = s.db.Update(func(tx *store.Tx) error {
			_, err := tx.Put(store.Networks, name, old, written)
			return err
		})
		_ = s.firewall()
		return apierr.BadRequest("network %q: the forward's rules were refused: %v", name, err)
	}
	return nil
}

// checkForward normalises and validates forward key of r, and refuses a
// listen address or port that something else takes: another network's
// subnet or forward, or a proxy device's NAT.
func (s *Service) checkForward(r Record, key string) error {
	f := r.Forwards[key]
	normaliseForward(&f)
	r.Forwards[key] = f
	listen, err := parseListenAddress(key)
	if err != nil {
		return err
	}
	fw, err := compileForward(listen, f, r.prefix(4), r.prefix(6))
	if err != nil {
		return err
	}
	family := 4
	if listen.Is6() {
		family = 6
	}
	if u := overlapping(netip.PrefixFrom(listen, listen.BitLen()), s.others(r.Name, family)); u != nil {
		return apierr.BadRequest("listen address %s is taken: it belongs to %s", listen, u.Owner)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for device, n := range s.nats {
		if natClashes(n, fw) {
			return apierr.BadRequest("%s port %d of %s is forwarded by the proxy device %s already", n.Proto, n.ListenPort, listen, device)
		}
	}
	return nil
}

// natClashes says whether a proxy device's NAT and a forward both take
// the same packets.
func natClashes(n ProxyNAT, f fwForward) bool {
	if n.ListenAddr != "" && n.ListenAddr != "0.0.0.0" && n.ListenAddr != f.Listen.String() {
		return false
	}
	if f.Listen.Is6() {
		return false // a proxy's NAT is IPv4 only
	}
	if f.Default.IsValid() {
		return true
	}
	for _, p := range f.Ports {
		for _, port := range p.ListenPorts {
			if p.Proto == n.Proto && port == n.ListenPort {
				return true
			}
		}
	}
	return false
}

// forwardsClashing names a forward that takes the packets of NAT n.
func (s *Service) forwardsClashing(n ProxyNAT) string {
	recs, _ := s.records()
	for _, r := range recs {
		for _, f := range s.compiledForwards(r) {
			if natClashes(n, f) {
				return f.Listen.String() + " on network " + r.Name
			}
		}
	}
	return ""
}

// compiledForwards are r's forwards as rules. A stored forward was
// checked when it was written; one that no longer compiles is left out.
func (s *Service) compiledForwards(r Record) []fwForward {
	var out []fwForward
	for _, k := range slices.Sorted(maps.Keys(r.Forwards)) {
		listen, err := parseListenAddress(k)
		if err == nil {
			var f fwForward
			if f, err = compileForward(listen, r.Forwards[k], r.prefix(4), r.prefix(6)); err == nil {
				out = append(out, f)
				continue
			}
		}
		s.log.Warn("network forward left out", "network", r.Name, "listen", k, "err", err)
	}
	return out
}

// checkForwardsFit refuses a network change that leaves a forward's
// targets outside the network's new subnets.
func (s *Service) checkForwardsFit(r Record) error {
	for k, f := range r.Forwards {
		listen, err := parseListenAddress(k)
		if err != nil {
			continue
		}
		if _, err := compileForward(listen, f, r.prefix(4), r.prefix(6)); err != nil {
			return apierr.BadRequest("network %q: the forward of %s would no longer hold: %v", r.Name, k, err)
		}
	}
	return nil
}
