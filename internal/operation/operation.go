// Package operation runs Lodge's asynchronous work: each operation is a
// background task (or a websocket session) that clients poll, wait on or
// cancel through /1.0/operations.
package operation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/event"
	"github.com/lodge-project/lodge/internal/project"
)

// Classes of operation.
const (
	ClassTask      = "task"
	ClassWebsocket = "websocket"
)

// Op is one operation.
type Op struct {
	mu        sync.Mutex
	id        string
	class     string
	desc      string
	created   time.Time
	updated   time.Time
	status    int
	resources map[string][]string
	metadata  map[string]any
	err       string
	done      chan struct{}
	cancel    context.CancelFunc
	mgr       *Manager
	// used ends a token operation; spent says it was.
	used  chan struct{}
	spent bool

	// Connect serves a websocket request for a websocket-class operation.
	Connect func(w http.ResponseWriter, r *http.Request, secret string) error
}

// Manager owns the live operations.
type Manager struct {
	mu  sync.Mutex
	ops map[string]*Op
	bus *event.Bus
	// ctx parents every operation; it ends when the daemon shuts down.
	ctx context.Context
}

// NewManager makes a manager whose operations live within ctx.
func NewManager(ctx context.Context, bus *event.Bus) *Manager {
	return &Manager{ops: map[string]*Op{}, bus: bus, ctx: ctx}
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Start runs fn as a task operation in the background. fn's context is
// cancelled when a client cancels the operation or the daemon stops.
func (m *Manager) Start(desc string, resources map[string][]string, metadata map[string]any, fn func(ctx context.Context, op *Op) error) *Op {
	op := m.add(ClassTask, desc, resources, metadata)
	ctx, cancel := context.WithCancel(m.ctx)
	op.cancel = cancel
	go func() {
		defer cancel()
		err := fn(ctx, op)
		op.finish(err)
	}()
	return op
}

// StartWebsocket registers a websocket operation. Its owner sets Connect
// to serve the client's websockets and calls Run for the work.
func (m *Manager) StartWebsocket(desc string, resources map[string][]string, metadata map[string]any) *Op {
	op := m.add(ClassWebsocket, desc, resources, metadata)
	return op
}

func (m *Manager) add(class, desc string, resources map[string][]string, metadata map[string]any) *Op {
	now := time.Now().UTC()
	if metadata == nil {
		metadata = map[string]any{}
	}
	op := &Op{id: newID(), class: class, desc: desc, created: now, updated: now, status: api.Running,
		resources: resources, metadata: metadata, done: make(chan struct{}), mgr: m}
	m.mu.Lock()
	m.ops[op.id] = op
	m.mu.Unlock()
	m.bus.SendIn(op.Project(), "operation", op.Render())
	return op
}

// Run executes fn for a websocket operation in the background and finishes it.
func (op *Op) Run(fn func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(op.mgr.ctx)
	op.mu.Lock()
	op.cancel = cancel
	op.mu.Unlock()
	go func() {
		defer cancel()
		op.finish(fn(ctx))
	}()
}

func (op *Op) finish(err error) {
	op.mu.Lock()
	op.updated = time.Now().UTC()
	switch {
	case err == nil:
		op.status = api.Success
	case err == context.Canceled:
		op.status = api.Cancelled
		op.err = "operation cancelled"
	default:
		op.status = api.Failure
		op.err = err.Error()
	}
	close(op.done)
	op.mu.Unlock()
	op.mgr.bus.SendIn(op.Project(), "operation", op.Render())
	// Keep finished operations around for a while so clients can read the result.
	time.AfterFunc(5*time.Minute, func() {
		op.mgr.mu.Lock()
		delete(op.mgr.ops, op.id)
		op.mgr.mu.Unlock()
	})
}

// ID is the operation's UUID.
func (op *Op) ID() string { return op.id }

// Class is task or websocket.
func (op *Op) Class() string { return op.class }

// Done is closed when the operation ends.
func (op *Op) Done() <-chan struct{} { return op.done }

// SetMetadata merges values into the operation's metadata.
func (op *Op) SetMetadata(values map[string]any) {
	op.mu.Lock()
	for k, v := range values {
		op.metadata[k] = v
	}
	op.updated = time.Now().UTC()
	op.mu.Unlock()
	op.mgr.bus.SendIn(op.Project(), "operation", op.Render())
}

// Err returns the failure message of a finished operation.
func (op *Op) Err() string {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.err
}

// Cancel asks the operation to stop.
func (op *Op) Cancel() error {
	op.mu.Lock()
	defer op.mu.Unlock()
	if op.cancel == nil || op.status != api.Running || op.spent {
		return apierr.BadRequest("operation %s cannot be cancelled", op.id)
	}
	op.status = api.Cancelling
	op.cancel()
	return nil
}

// Render is the operation's wire form.
func (op *Op) Render() api.Operation {
	op.mu.Lock()
	defer op.mu.Unlock()
	md := make(map[string]any, len(op.metadata))
	for k, v := range op.metadata {
		md[k] = v
	}
	return api.Operation{ID: op.id, Class: op.class, Description: op.desc, CreatedAt: op.created, UpdatedAt: op.updated,
		Status: api.StatusText(op.status), StatusCode: op.status, Resources: op.resources, Metadata: md,
		MayCancel: op.cancel != nil && op.status == api.Running, Err: op.err, Location: "none"}
}

// URL is the operation's API path.
func (op *Op) URL() string { return "/1.0/operations/" + op.id }

// Get finds an operation.
func (m *Manager) Get(id string) (*Op, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	op, ok := m.ops[id]
	if !ok {
		return nil, apierr.NotFound("operation %q", id)
	}
	return op, nil
}

// List returns the operations, oldest first.
func (m *Manager) List() []*Op {
	m.mu.Lock()
	ops := make([]*Op, 0, len(m.ops))
	for _, op := range m.ops {
		ops = append(ops, op)
	}
	m.mu.Unlock()
	sort.Slice(ops, func(i, j int) bool { return ops[i].created.Before(ops[j].created) })
	return ops
}

// Wait blocks until op finishes, ctx ends or timeout passes (negative: no timeout).
func (op *Op) Wait(ctx context.Context, timeout time.Duration) error {
	var timer <-chan time.Time
	if timeout >= 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-op.done:
		return nil
	case <-timer:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for operation %s: %w", op.id, ctx.Err())
	}
}

// Project is the project of the objects the operation works on, as
// their paths name it (the default project when none does).
func (op *Op) Project() string {
	for _, urls := range op.resources {
		for _, u := range urls {
			if p := event.ProjectOf(u); p != project.Default {
				return p
			}
		}
	}
	return project.Default
}
