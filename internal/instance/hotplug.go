package instance

import (
	"fmt"
	"strings"

	"github.com/lodge-project/lodge/internal/revert"
	"github.com/lodge-project/lodge/internal/store"
)

// ensureMACs gives every NIC without a hwaddr a stable MAC, kept in
// volatile.<device>.hwaddr so it survives restarts.
func (s *Service) ensureMACs(e Expanded) error {
	missing := []string{}
	for name, d := range e.Devices {
		if d["type"] == "nic" && d["hwaddr"] == "" && e.Record.Config["volatile."+name+".hwaddr"] == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return s.db.Update(func(tx *store.Tx) error {
		var r Record
		if _, err := tx.Get(store.Instances, e.Name, &r); err != nil {
			return err
		}
		for _, name := range missing {
			r.Config["volatile."+name+".hwaddr"] = randomMAC()
		}
		_, err := tx.Put(store.Instances, e.Name, r, 0)
		return err
	})
}

// hotplug applies device changes to a running instance: devices that went
// away or changed are detached, new or changed ones attached. A failure
// takes back what this call did, and only that: what it attached is
// detached, what it detached is attached again.
func (s *Service) hotplug(old, cur Expanded) (err error) {
	before, rerr := s.resolveDevices(old)
	if rerr != nil {
		before = runtimeDevices{} // the old state may no longer resolve; nothing to detach then
	}
	after, err := s.resolveDevices(cur)
	if err != nil {
		return err
	}
	name, rt := cur.Name, s.runtimeOf(cur.Type)
	var r revert.Reverter
	defer func() { err = r.Fail(err) }()
	for dev, d := range before.Disks {
		if n, ok := after.Disks[dev]; !ok || n != d {
			if err := rt.Detach(name, d); err != nil {
				return fmt.Errorf("detach disk %s: %w", dev, err)
			}
			r.Add("detach of disk "+dev, func() error { return rt.Attach(name, old.IDMap, d) })
		}
	}
	for dev, u := range before.UnixDevs {
		if n, ok := after.UnixDevs[dev]; !ok || n != u {
			if err := rt.Detach(name, u); err != nil {
				return fmt.Errorf("detach %s: %w", dev, err)
			}
			r.Add("detach of "+dev, func() error {
				u, err := s.unixNode(old, dev, u)
				if err != nil {
					return err
				}
				return rt.Attach(name, old.IDMap, u)
			})
		}
	}
	for dev, n := range before.NICs {
		if m, ok := after.NICs[dev]; !ok || m != n {
			s.dropNICPolicy(n)
			if err := rt.Detach(name, n); err != nil {
				return fmt.Errorf("detach nic %s: %w", dev, err)
			}
			r.Add("detach of nic "+dev, func() error {
				if err := rt.Attach(name, old.IDMap, n); err != nil {
					return err
				}
				return s.applyNICPolicy(old, dev, n)
			})
		}
	}
	for dev, p := range before.Proxies {
		if n, ok := after.Proxies[dev]; !ok || n != p {
			s.stopProxy(name, dev)
			r.Add("stop of proxy "+dev, func() error {
				_, pid := rt.Status(name)
				return s.startProxy(name, pid, dev, p)
			})
		}
	}
	_, pid := rt.Status(name)
	for dev, p := range after.Proxies {
		if o, ok := before.Proxies[dev]; !ok || o != p {
			if err := s.startProxy(name, pid, dev, p); err != nil {
				return err
			}
			r.Add("start of proxy "+dev, func() error { s.stopProxy(name, dev); return nil })
		}
	}
	for dev, d := range after.Disks {
		if o, ok := before.Disks[dev]; !ok || o != d {
			if err := rt.Attach(name, cur.IDMap, d); err != nil {
				return fmt.Errorf("attach disk %s: %w", dev, err)
			}
			r.Add("attach of disk "+dev, func() error { return rt.Detach(name, d) })
		}
	}
	for dev, u := range after.UnixDevs {
		if o, ok := before.UnixDevs[dev]; !ok || o != u {
			u, err := s.unixNode(cur, dev, u)
			if err != nil {
				return fmt.Errorf("attach %s: %w", dev, err)
			}
			if err := rt.Attach(name, cur.IDMap, u); err != nil {
				return fmt.Errorf("attach %s: %w", dev, err)
			}
			r.Add("attach of "+dev, func() error { return rt.Detach(name, u) })
		}
	}
	for dev, n := range after.NICs {
		if o, ok := before.NICs[dev]; !ok || o != n {
			if err := rt.Attach(name, cur.IDMap, n); err != nil {
				return fmt.Errorf("attach nic %s: %w", dev, err)
			}
			r.Add("attach of nic "+dev, func() error { s.dropNICPolicy(n); return rt.Detach(name, n) })
		}
		// Policies (filters, limits) may change while the NIC stays.
		if err := s.applyNICPolicy(cur, dev, n); err != nil {
			return err
		}
	}
	return nil
}

// sysctls collects linux.sysctl.* keys for the container's namespaces.
func sysctls(config map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range config {
		if key, ok := strings.CutPrefix(k, "linux.sysctl."); ok {
			out[key] = v
		}
	}
	return out
}
