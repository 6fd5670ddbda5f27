package runtimetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/limits"
)

// Subject is a runtime under test.
type Subject struct {
	// New makes a runtime with no instances.
	New func(t *testing.T) runtime.Runtime
	// Spec is a start spec for a fresh instance called name, whose init
	// runs until it is stopped.
	Spec func(t *testing.T, name string) runtime.Spec
}

// Run drives the runtime through the cases every runtime passes, the
// in-memory one included: what the instance service's unit tests learn
// from that one is then true of the others.
func Run(t *testing.T, s Subject) {
	ctx := context.Background()
	t.Run("StartStatusStop", func(t *testing.T) {
		rt := s.New(t)
		exits := watchExits(rt)
		if st, pid := rt.Status("c1"); st != runtime.StateStopped || pid != 0 {
			t.Fatalf("a never-started instance: %s %d", st, pid)
		}
		start(t, rt, s.Spec(t, "c1"))
		st, pid := rt.Status("c1")
		if st != runtime.StateRunning || pid <= 0 {
			t.Fatalf("after start: %s %d", st, pid)
		}
		if err := rt.Start(ctx, s.Spec(t, "c1")); err == nil {
			t.Fatal("a second start of a running instance succeeded")
		}
		if u, err := rt.Usage("c1"); err != nil || u.Processes < 1 {
			t.Fatalf("usage: %+v %v", u, err)
		}
		if err := rt.Stop(ctx, "c1", true, 0); err != nil {
			t.Fatal(err)
		}
		if st, pid := rt.Status("c1"); st != runtime.StateStopped || pid != 0 {
			t.Fatalf("after stop: %s %d", st, pid)
		}
		exits.want(t, "c1")
		if err := rt.Stop(ctx, "c1", true, 0); err == nil {
			t.Fatal("stopping a stopped instance succeeded")
		}
		start(t, rt, s.Spec(t, "c1")) // and it starts again
		stop(t, rt, "c1")
	})
	t.Run("FreezeAndUnfreeze", func(t *testing.T) {
		rt := s.New(t)
		if err := rt.Freeze(ctx, "c1"); err == nil {
			t.Fatal("froze a stopped instance")
		}
		start(t, rt, s.Spec(t, "c1"))
		defer stop(t, rt, "c1")
		if err := rt.Freeze(ctx, "c1"); err != nil {
			t.Fatal(err)
		}
		if st, _ := rt.Status("c1"); st != runtime.StateFrozen {
			t.Fatalf("after freeze: %s", st)
		}
		if err := rt.Unfreeze(ctx, "c1"); err != nil {
			t.Fatal(err)
		}
		if st, _ := rt.Status("c1"); st != runtime.StateRunning {
			t.Fatalf("after unfreeze: %s", st)
		}
	})
	t.Run("Exec", func(t *testing.T) {
		rt := s.New(t)
		if _, err := rt.Exec(ctx, "c1", runtime.ExecSpec{Args: []string{"true"}}); err == nil {
			t.Fatal("exec in a stopped instance succeeded")
		}
		start(t, rt, s.Spec(t, "c1"))
		defer stop(t, rt, "c1")
		p, err := rt.Exec(ctx, "c1", runtime.ExecSpec{Args: []string{"true"}, Cwd: "/"})
		if err != nil {
			t.Fatal(err)
		}
		if code := p.Wait(); code != 0 {
			t.Fatalf("true exited %d", code)
		}
	})
	t.Run("LimitsApplyLive", func(t *testing.T) {
		rt := s.New(t)
		start(t, rt, s.Spec(t, "c1"))
		defer stop(t, rt, "c1")
		res := *s.Spec(t, "c1").Limits
		res.Memory = 256 << 20
		if err := rt.ApplyLimits("c1", &res); err != nil {
			t.Fatal(err)
		}
		if u, err := rt.Usage("c1"); err != nil || u.MemoryLimit != 256<<20 {
			t.Fatalf("memory limit after applying 256MiB: %d %v", u.MemoryLimit, err)
		}
	})
	t.Run("DisksPlugAndUnplug", func(t *testing.T) {
		rt := s.New(t)
		start(t, rt, s.Spec(t, "c1"))
		defer stop(t, rt, "c1")
		disk := runtime.Disk{Source: t.TempDir(), Path: "/mnt"}
		if err := rt.Attach("c1", nil, disk); err != nil {
			t.Fatal(err)
		}
		if err := rt.Detach("c1", disk); err != nil {
			t.Fatal(err)
		}
	})
}

func start(t *testing.T, rt runtime.Runtime, spec runtime.Spec) {
	t.Helper()
	if err := rt.Start(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
}

func stop(t *testing.T, rt runtime.Runtime, name string) {
	t.Helper()
	if err := rt.Stop(context.Background(), name, true, 0); err != nil {
		t.Fatal(err)
	}
}

// DefaultLimits is an unlimited resource set for cpus CPUs, as a start
// spec carries it.
func DefaultLimits(cpus int) *limits.Resources {
	res, err := limits.FromConfig(nil, limits.Host{CPUs: cpus, MemoryBytes: 1 << 30})
	if err != nil {
		panic(err)
	}
	return res
}

// exitWatch records the exits a runtime reports.
type exitWatch struct {
	mu    sync.Mutex
	names []string
}

func watchExits(rt runtime.Runtime) *exitWatch {
	w := &exitWatch{}
	rt.OnExit(func(name string) {
		w.mu.Lock()
		w.names = append(w.names, name)
		w.mu.Unlock()
	})
	return w
}

// want waits (a little: reports may come from another goroutine) for
// exactly one exit report of name.
func (w *exitWatch) want(t *testing.T, name string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		w.mu.Lock()
		got := append([]string(nil), w.names...)
		w.mu.Unlock()
		if len(got) > 0 || time.Now().After(deadline) {
			time.Sleep(100 * time.Millisecond) // a second report would come by now
			w.mu.Lock()
			got = append([]string(nil), w.names...)
			w.mu.Unlock()
			if len(got) != 1 || got[0] != name {
				t.Fatalf("exit reports: %v, want one of %s", got, name)
			}
			return
		}
	}
}
