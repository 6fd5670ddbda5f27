// Package runtime is the seam between the instance service and what runs
// instances: the Runtime interface, the neutral types it speaks (a start
// spec, devices to plug, exec requests, usage counters) and the registry
// from instance type to runtime. The service never names a runtime's own
// types: a new instance type (virtual machines) is one more Runtime and one
// more registry line.
package runtime

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/limits"
)

// States an instance's runtime reports, as the API names them.
const (
	StateStopped = "Stopped"
	StateRunning = "Running"
	StateFrozen  = "Frozen"
)

// Runtime runs instances of one type. Instances outlive lodged: a runtime
// finds running ones by name after a restart (Status, then Watch).
type Runtime interface {
	// Status reports the state (StateStopped, StateRunning, StateFrozen)
	// and the init's host pid (0 when stopped).
	Status(name string) (string, int)
	// Start boots an instance from spec; it fails with a conflict when
	// the instance runs already.
	Start(ctx context.Context, spec Spec) error
	// Stop shuts the instance down: force kills at once; otherwise its
	// init is asked to halt and killed after timeout.
	Stop(ctx context.Context, name string, force bool, timeout time.Duration) error
	// Freeze pauses every process of the instance; Unfreeze resumes them.
	Freeze(ctx context.Context, name string) error
	Unfreeze(ctx context.Context, name string) error
	// Exec starts a command in a running instance.
	Exec(ctx context.Context, name string, spec ExecSpec) (Proc, error)
	// Console connects to the instance's console; Resize sets its size.
	Console(name string) (io.ReadWriteCloser, error)
	ResizeConsole(name string, cols, rows uint16) error
	// Usage reads a running instance's counters and interfaces.
	Usage(name string) (Usage, error)
	// ApplyLimits sets a running instance's resources; a stopped one gets
	// them at its next start.
	ApplyLimits(name string, res *limits.Resources) error
	// Attach plugs a device into a running instance (a stopped one gets
	// it at its next start); m is the instance's id map (nil:
	// privileged). Detach unplugs it.
	Attach(name string, m *idmap.Map, dev Device) error
	Detach(name string, dev Device) error
	// Watch follows an instance that ran before lodged started, so that
	// its exit is reported like any other.
	Watch(name string)
	// OnExit sets who is told when an instance's init ends, on its own or
	// by Stop; it is set once, before any instance starts.
	OnExit(fn func(name string))
}

// Registry maps an instance type ("container", later "virtual-machine")
// to its runtime. It is built in one place, lodged's wiring.
type Registry map[string]Runtime

// For is the runtime of instance type typ.
func (r Registry) For(typ string) (Runtime, error) {
	rt, ok := r[typ]
	if !ok {
		return nil, fmt.Errorf("instance type %q has no runtime on this host", typ)
	}
	return rt, nil
}
