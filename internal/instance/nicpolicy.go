package instance

import (
	"github.com/lodge-project/lodge/internal/instance/device"
	"github.com/lodge-project/lodge/internal/network"
)

// RestoreNICPolicies brings back, after a daemon start, the host side of
// running instances' devices that lived in lodged or its tables: every
// NIC filter (loaded in one go) and the userspace proxies.
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
		devs, err := s.resolveDevices(e)
		if err != nil {
			continue
		}
		inst := deviceInstance(e)
		_, pid := s.runtimeOf(e.Type).Status(name)
		for _, dev := range device.Names(devs) {
			d := devs[dev]
			if f, ok := d.(device.Filtered); ok {
				if pf, has := f.Filter(s.devEnv, inst); has {
					filters = append(filters, pf)
				}
			}
			if rs, ok := d.(device.Restorer); ok {
				if err := rs.Restore(s.devEnv, inst, pid); err != nil {
					s.log.Warn("restore device", "instance", name, "device", dev, "err", err)
				}
			}
		}
	}
	if err := s.networks.Filters.Load(filters); err != nil {
		s.log.Error("restore NIC filters", "err", err)
	}
}
