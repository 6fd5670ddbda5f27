package instance

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/lodge-project/lodge/internal/instance/keys"
	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/warning"
)

// Autostart starts, in priority order, the stopped instances that have
// boot.autostart=true, or that were running when the host went down
// (volatile.last_state.power=RUNNING) and do not say boot.autostart=false.
func (s *Service) Autostart(ctx context.Context) {
	names, _ := s.Names()
	type candidate struct {
		name     string
		priority int
		delay    time.Duration
	}
	var todo []candidate
	for _, n := range names {
		e, _, err := s.load(n)
		if err != nil || !wantsAutostart(e) {
			continue
		}
		if st, _ := s.runtimeOf(e.Type).Status(n); st != runtime.StateStopped {
			continue
		}
		prio, _ := strconv.Atoi(e.Config["boot.autostart.priority"])
		delay, _ := strconv.Atoi(e.Config["boot.autostart.delay"])
		todo = append(todo, candidate{n, prio, time.Duration(delay) * time.Second})
	}
	sort.SliceStable(todo, func(i, j int) bool { return todo[i].priority > todo[j].priority })
	for _, c := range todo {
		if ctx.Err() != nil {
			return
		}
		started, err := s.autostart(ctx, c.name)
		if err != nil {
			s.log.Warn("autostart failed", "instance", c.name, "err", err)
			proj, name := project.SplitKey(c.name)
			s.warnings.Raise(warning.InstanceAutostartFailure, proj, instanceURL(c.name),
				fmt.Sprintf("instance %s did not start with lodged: %v", name, err))
			continue
		}
		if !started {
			continue
		}
		s.log.Info("autostarted", "instance", c.name)
		select {
		case <-time.After(c.delay):
		case <-ctx.Done():
			return
		}
	}
}

// autostart starts one instance if it still wants it once its lock is
// held: clients are served while autostart runs, and an instance stopped,
// started or deleted since the scan is left as its user put it.
func (s *Service) autostart(ctx context.Context, name string) (bool, error) {
	select {
	case <-s.netReady:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer s.lock(name)()
	e, _, err := s.load(name)
	if err != nil || !wantsAutostart(e) {
		return false, nil
	}
	if st, _ := s.runtimeOf(e.Type).Status(name); st != runtime.StateStopped {
		return false, nil
	}
	return true, s.start(ctx, name)
}

// wantsAutostart: boot.autostart=true, or running when the host went down
// and boot.autostart unset.
func wantsAutostart(e Expanded) bool {
	auto, set := e.Config["boot.autostart"]
	if set && auto != "" {
		return keys.IsTrue(e.Config, "boot.autostart")
	}
	return e.Record.Config["volatile.last_state.power"] == "RUNNING"
}

// ShutdownHost stops every running instance cleanly (each within its
// boot.host_shutdown_timeout) and keeps their power state as RUNNING, so
// the next start brings them back.
func (s *Service) ShutdownHost(ctx context.Context) {
	s.mu.Lock()
	s.hostShutdown = true
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range s.Running() {
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			defer s.lock(name)()
			if err := s.stop(ctx, name, false, -1); err != nil {
				s.log.Warn("stop at host shutdown", "instance", name, "err", err)
			}
			_ = s.setPower(name, "RUNNING")
		}(n)
	}
	wg.Wait()
}

// autostartResolved resolves the autostart warning of the instance whose
// key is key, if it has one: it started after all, or it is gone.
func (s *Service) autostartResolved(key string) {
	proj, _ := project.SplitKey(key)
	s.warnings.Resolve(warning.InstanceAutostartFailure, proj, instanceURL(key))
}
