package instance

import (
	"github.com/lodge-project/lodge/internal/devlxd"
	"github.com/lodge-project/lodge/internal/instance/keys"
)

// DevLXDInfo is what /dev/lxd/sock serves of an instance (devlxd.Source).
func (s *Service) DevLXDInfo(key string) (devlxd.Info, error) {
	e, _, err := s.load(key)
	if err != nil {
		return devlxd.Info{}, err
	}
	typ := e.Type
	if typ == "" {
		typ = typeContainer
	}
	return devlxd.Info{Name: e.Name, Type: typ, Config: e.Config, Devices: e.Devices, CloudInitID: e.Record.Config[cloudInitIDKey]}, nil
}

// InitPID is the pid of a running instance's init, 0 when stopped
// (devlxd.Source).
func (s *Service) InitPID(key string) int {
	e, _, err := s.load(key)
	if err != nil {
		return 0
	}
	_, pid := s.runtimeOf(e.Type).Status(key)
	return pid
}

// restoreDevLXD listens again on the /dev/lxd socket of an instance that
// ran through a restart of lodged: its /dev/lxd is the same host folder,
// so the new socket appears in it.
func (s *Service) restoreDevLXD(key string) {
	e, _, err := s.load(key)
	if err != nil || !keys.Bool(e.Config, "security.devlxd") {
		return
	}
	if _, err := s.devlxd.Start(key, host(key)); err != nil {
		s.log.Warn("/dev/lxd not restored", "instance", key, "err", err)
	}
}
