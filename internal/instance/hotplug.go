package instance

import (
	"fmt"
	"strings"

	"github.com/lodge-project/lodge/internal/instance/device"
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
		if _, err := tx.Get(store.Instances, e.key(), &r); err != nil {
			return err
		}
		for _, name := range missing {
			r.Config["volatile."+name+".hwaddr"] = randomMAC()
		}
		_, err := tx.Put(store.Instances, e.key(), r, 0)
		return err
	})
}

// hotplug applies device changes to a running instance: devices that
// changed take the change live where their type can (device.Updater);
// otherwise devices that went away or changed are unplugged, and new or
// changed ones plugged. A failure takes back what this call did, and only
// that: what it plugged is unplugged, what it unplugged is plugged again.
func (s *Service) hotplug(old, cur Expanded) (err error) {
	before, rerr := s.resolveDevices(old)
	if rerr != nil {
		before = nil // the old state may no longer resolve; nothing to unplug then
	}
	after, err := s.resolveDevices(cur)
	if err != nil {
		return err
	}
	name, rt, env := cur.key(), s.runtimeOf(cur.Type), s.devEnv
	_, pid := rt.Status(name)
	oldInst, curInst := deviceInstance(old), deviceInstance(cur)
	var r revert.Reverter
	defer func() { err = r.Fail(err) }()
	live := map[string]bool{}
	for _, dev := range device.Names(before) {
		b := before[dev]
		a, stays := after[dev]
		if stays && a == b {
			continue
		}
		if u, ok := a.(device.Updater); stays && ok {
			done, err := u.Update(env, curInst, pid, b)
			if err != nil {
				return fmt.Errorf("update device %s: %w", dev, err)
			}
			if done {
				live[dev] = true
				r.Add("update of device "+dev, func() error { return b.Up(env, oldInst, pid) })
				continue
			}
		}
		b.Down(env, oldInst)
		if p := b.Plugged(); p != nil {
			if err := rt.Detach(name, p); err != nil {
				return fmt.Errorf("detach device %s: %w", dev, err)
			}
		}
		r.Add("detach of device "+dev, func() error {
			p, err := b.Plug(env, oldInst)
			if err != nil {
				return err
			}
			if p != nil {
				if err := rt.Attach(name, old.IDMap, p); err != nil {
					return err
				}
			}
			return b.Up(env, oldInst, pid)
		})
	}
	for _, dev := range device.Names(after) {
		a := after[dev]
		if b, ok := before[dev]; ok && (b == a || live[dev]) {
			continue
		}
		p, err := a.Plug(env, curInst)
		if err != nil {
			return fmt.Errorf("attach device %s: %w", dev, err)
		}
		if p != nil {
			if err := rt.Attach(name, cur.IDMap, p); err != nil {
				return fmt.Errorf("attach device %s: %w", dev, err)
			}
			r.Add("attach of device "+dev, func() error { return rt.Detach(name, p) })
		}
		if err := a.Up(env, curInst, pid); err != nil {
			return err
		}
		r.Add("host side of device "+dev, func() error { a.Down(env, curInst); return nil })
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
