package instance

import (
	"context"
	"io"
	"maps"
	"slices"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/store"
)

// typeContainer is the instance type of system containers, the default.
const typeContainer = "container"

// typeVM is the instance type of virtual machines (no runtime yet; its
// project limits and restrictions are checked all the same).
const typeVM = "virtual-machine"

// runtimeTypes lists the instance types this host runs.
func (s *Service) runtimeTypes() []string {
	return slices.Sorted(maps.Keys(s.runtimes))
}

// runtimeOf is the runtime of instance type typ. A type this host has no
// runtime for (a record from a host that had one) gets a runtime that
// reports its instances stopped and refuses to run them.
func (s *Service) runtimeOf(typ string) runtime.Runtime {
	if typ == "" {
		typ = typeContainer // records from before types were checked
	}
	if rt, err := s.runtimes.For(typ); err == nil {
		return hostNamed{rt}
	}
	return runtime.Unavailable(typ)
}

// status is the runtime state of the instance with store key name. An
// instance without a record (a leftover volume at start-up, name being
// then its host name) is asked of every runtime.
func (s *Service) status(name string) (string, int) {
	r, _, err := store.Get[Record](s.db, store.Instances, name)
	if err == nil {
		return s.runtimeOf(r.Type).Status(name)
	}
	for _, rt := range s.runtimes {
		if st, pid := rt.Status(name); st != runtime.StateStopped {
			return st, pid
		}
	}
	return runtime.StateStopped, 0
}

// running is the runtime of a running instance.
func (s *Service) running(name string) (runtime.Runtime, error) {
	e, _, err := s.load(name)
	if err != nil {
		return nil, err
	}
	rt := s.runtimeOf(e.Type)
	if st, _ := rt.Status(name); st != runtime.StateRunning {
		return nil, apierr.BadRequest("instance %q is not running", name)
	}
	return rt, nil
}

// Exec starts a command in a running instance.
func (s *Service) Exec(ctx context.Context, name string, spec runtime.ExecSpec) (runtime.Proc, error) {
	rt, err := s.running(name)
	if err != nil {
		return nil, err
	}
	return rt.Exec(ctx, name, spec)
}

// Console connects to a running instance's console.
func (s *Service) Console(name string) (io.ReadWriteCloser, error) {
	rt, err := s.running(name)
	if err != nil {
		return nil, err
	}
	return rt.Console(name)
}

// ResizeConsole sets the window size of an instance's console.
func (s *Service) ResizeConsole(name string, cols, rows uint16) error {
	e, _, err := s.load(name)
	if err != nil {
		return err
	}
	return s.runtimeOf(e.Type).ResizeConsole(name, cols, rows)
}
