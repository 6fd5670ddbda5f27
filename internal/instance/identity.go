package instance

import (
	"context"
	"io"
	"time"

	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/limits"
	"github.com/lodge-project/lodge/internal/project"
)

// An instance is known by {project, name}. Inside the service it goes by
// its store key (project.StoreKey: the bare name in the default project):
// the key of its record, its lock and its snapshots' keys. What the host
// holds for it (runtime state and cgroups, logs/, devices/, containers/,
// veths, volumes) goes by its host name (project.HostName), and the API by
// its name with ?project= (project.URL).

// key is the record's store key.
func (r Record) key() string { return project.StoreKey(r.Project, r.Name) }

// instanceURL is the API path of the instance with store key key, and of
// what is below it (rest).
func instanceURL(key string, rest ...string) string {
	p, name := project.SplitKey(key)
	path := "/1.0/instances/" + name
	for _, r := range rest {
		path += r
	}
	return project.URL(p, path)
}

// hostNamed is a runtime seen through store keys: it names instances to
// the runtime by their host names, and reports exits by store key.
type hostNamed struct{ rt runtime.Runtime }

func host(key string) string { return project.HostOfKey(key) }

func (h hostNamed) Status(key string) (string, int) { return h.rt.Status(host(key)) }
func (h hostNamed) Start(ctx context.Context, spec runtime.Spec) error {
	spec.Name = host(spec.Name)
	return h.rt.Start(ctx, spec)
}
func (h hostNamed) Stop(ctx context.Context, key string, force bool, timeout time.Duration) error {
	return h.rt.Stop(ctx, host(key), force, timeout)
}
func (h hostNamed) Freeze(ctx context.Context, key string) error { return h.rt.Freeze(ctx, host(key)) }
func (h hostNamed) Unfreeze(ctx context.Context, key string) error {
	return h.rt.Unfreeze(ctx, host(key))
}
func (h hostNamed) Exec(ctx context.Context, key string, spec runtime.ExecSpec) (runtime.Proc, error) {
	return h.rt.Exec(ctx, host(key), spec)
}
func (h hostNamed) Console(key string) (io.ReadWriteCloser, error) { return h.rt.Console(host(key)) }
func (h hostNamed) ResizeConsole(key string, cols, rows uint16) error {
	return h.rt.ResizeConsole(host(key), cols, rows)
}
func (h hostNamed) Usage(key string) (runtime.Usage, error) { return h.rt.Usage(host(key)) }
func (h hostNamed) ApplyLimits(key string, res *limits.Resources) error {
	return h.rt.ApplyLimits(host(key), res)
}
func (h hostNamed) Attach(key string, m *idmap.Map, dev runtime.Device) error {
	return h.rt.Attach(host(key), m, dev)
}
func (h hostNamed) Detach(key string, dev runtime.Device) error { return h.rt.Detach(host(key), dev) }
func (h hostNamed) Watch(key string)                            { h.rt.Watch(host(key)) }
func (h hostNamed) OnExit(fn func(string)) {
	h.rt.OnExit(func(name string) { fn(project.KeyOfHost(name)) })
}
