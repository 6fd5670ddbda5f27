// Package runtimetest holds an in-memory Runtime for the instance service's
// unit tests, and the conformance cases every runtime passes.
package runtimetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/limits"
)

// Fake runs nothing: it keeps each instance's state, spec, limits and
// plugged devices in memory, and fails where a test tells it to.
type Fake struct {
	mu      sync.Mutex
	onExit  func(string)
	nextPID int
	inst    map[string]*FakeInstance
	// FailStart, FailAttach and FailLimits, when set, make the next
	// calls of Start, Attach and ApplyLimits fail with them.
	FailStart, FailAttach, FailLimits error
}

// FakeInstance is what the fake knows of one instance.
type FakeInstance struct {
	State   string
	PID     int
	Spec    runtime.Spec
	Limits  *limits.Resources
	Devices []runtime.Device
}

// New makes an empty fake runtime.
func New() *Fake { return &Fake{nextPID: 1000, inst: map[string]*FakeInstance{}} }

var _ runtime.Runtime = (*Fake)(nil)

// Instance returns a copy of what the fake holds for name (State is
// Stopped for one it never started).
func (f *Fake) Instance(name string) FakeInstance {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i, ok := f.inst[name]; ok {
		c := *i
		c.Devices = append([]runtime.Device(nil), i.Devices...)
		return c
	}
	return FakeInstance{State: runtime.StateStopped}
}

// Exit ends a running instance's init as if it had halted on its own.
func (f *Fake) Exit(name string) {
	f.mu.Lock()
	i, ok := f.inst[name]
	if ok {
		i.State, i.PID = runtime.StateStopped, 0
	}
	fn := f.onExit
	f.mu.Unlock()
	if ok && fn != nil {
		fn(name)
	}
}

func (f *Fake) running(name string) (*FakeInstance, error) {
	i, ok := f.inst[name]
	if !ok || i.State == runtime.StateStopped {
		return nil, apierr.Conflict("instance %q is not running", name)
	}
	return i, nil
}

// Status reports the state and pid.
func (f *Fake) Status(name string) (string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i, ok := f.inst[name]; ok {
		return i.State, i.PID
	}
	return runtime.StateStopped, 0
}

// Start marks the instance running with the spec it got.
func (f *Fake) Start(ctx context.Context, spec runtime.Spec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := take(&f.FailStart); err != nil {
		return err
	}
	if i, ok := f.inst[spec.Name]; ok && i.State != runtime.StateStopped {
		return apierr.Conflict("instance %q is already running", spec.Name)
	}
	if spec.Rootfs == "" {
		return fmt.Errorf("start %q: no rootfs", spec.Name)
	}
	f.nextPID++
	i := &FakeInstance{State: runtime.StateRunning, PID: f.nextPID, Spec: spec, Limits: spec.Limits}
	for _, d := range spec.Disks {
		i.Devices = append(i.Devices, d)
	}
	for _, d := range spec.UnixDevs {
		i.Devices = append(i.Devices, d)
	}
	for _, d := range spec.NICs {
		i.Devices = append(i.Devices, d)
	}
	f.inst[spec.Name] = i
	return nil
}

// Stop marks the instance stopped and reports its exit.
func (f *Fake) Stop(ctx context.Context, name string, force bool, timeout time.Duration) error {
	f.mu.Lock()
	_, err := f.running(name)
	f.mu.Unlock()
	if err != nil {
		return err
	}
	f.Exit(name)
	return nil
}

// Freeze pauses a running instance.
func (f *Fake) Freeze(ctx context.Context, name string) error {
	return f.move(name, runtime.StateRunning, runtime.StateFrozen)
}

// Unfreeze resumes a frozen instance.
func (f *Fake) Unfreeze(ctx context.Context, name string) error {
	return f.move(name, runtime.StateFrozen, runtime.StateRunning)
}

func (f *Fake) move(name, from, to string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.running(name)
	if err != nil {
		return err
	}
	if i.State != from {
		return apierr.Conflict("instance %q is %s", name, i.State)
	}
	i.State = to
	return nil
}

// Exec runs nothing: its Proc exits at once with code 0.
func (f *Fake) Exec(ctx context.Context, name string, spec runtime.ExecSpec) (runtime.Proc, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.running(name); err != nil {
		return nil, err
	}
	return doneProc{}, nil
}

// Console is not kept by the fake.
func (f *Fake) Console(name string) (io.ReadWriteCloser, error) {
	return nil, errors.New("the fake runtime has no console")
}

// ResizeConsole does nothing.
func (f *Fake) ResizeConsole(name string, cols, rows uint16) error { return nil }

// Usage reports one process and the memory limit.
func (f *Fake) Usage(name string) (runtime.Usage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.running(name)
	if err != nil {
		return runtime.Usage{}, err
	}
	u := runtime.Usage{Processes: 1}
	if i.Limits != nil && i.Limits.Memory > 0 {
		u.MemoryLimit = i.Limits.Memory
	}
	return u, nil
}

// ApplyLimits records a running instance's new limits.
func (f *Fake) ApplyLimits(name string, res *limits.Resources) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := take(&f.FailLimits); err != nil {
		return err
	}
	if i, err := f.running(name); err == nil {
		i.Limits = res
	}
	return nil
}

// Attach records a device plugged into a running instance.
func (f *Fake) Attach(name string, m *idmap.Map, dev runtime.Device) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := take(&f.FailAttach); err != nil {
		return err
	}
	if i, err := f.running(name); err == nil {
		i.Devices = append(i.Devices, dev)
	}
	return nil
}

// Detach drops a device from a running instance.
func (f *Fake) Detach(name string, dev runtime.Device) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.running(name)
	if err != nil {
		return nil
	}
	for n, d := range i.Devices {
		if d == dev {
			i.Devices = append(i.Devices[:n], i.Devices[n+1:]...)
			return nil
		}
	}
	return fmt.Errorf("%+v is not plugged into %q", dev, name)
}

// Watch does nothing: the fake's instances do not outlive it.
func (f *Fake) Watch(name string) {}

// OnExit sets who is told of exits.
func (f *Fake) OnExit(fn func(string)) {
	f.mu.Lock()
	f.onExit = fn
	f.mu.Unlock()
}

// take returns *err and clears it.
func take(err *error) error {
	e := *err
	*err = nil
	return e
}

type doneProc struct{}

func (doneProc) Wait() int                      { return 0 }
func (doneProc) Signal(syscall.Signal) error    { return nil }
func (doneProc) Release() error                 { return nil }
func (doneProc) Abandon()                       {}
func (doneProc) PTY() *os.File                  { return nil }
func (doneProc) Resize(cols, rows uint16) error { return nil }
