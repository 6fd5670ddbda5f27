package runtime

import (
	"context"
	"io"
	"time"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/limits"
)

// Unavailable is the runtime of an instance type this host cannot run:
// its instances are stopped, and starting or changing them says why.
func Unavailable(typ string) Runtime { return unavailable(typ) }

type unavailable string

func (u unavailable) err() error {
	return apierr.BadRequest("instance type %q cannot run on this host (no runtime for it)", string(u))
}

func (unavailable) Status(string) (string, int)         { return StateStopped, 0 }
func (u unavailable) Start(context.Context, Spec) error { return u.err() }
func (u unavailable) Stop(context.Context, string, bool, time.Duration) error {
	return u.err()
}
func (u unavailable) Freeze(context.Context, string) error   { return u.err() }
func (u unavailable) Unfreeze(context.Context, string) error { return u.err() }
func (u unavailable) Exec(context.Context, string, ExecSpec) (Proc, error) {
	return nil, u.err()
}
func (u unavailable) Console(string) (io.ReadWriteCloser, error) { return nil, u.err() }
func (u unavailable) ResizeConsole(string, uint16, uint16) error { return u.err() }
func (u unavailable) Usage(string) (Usage, error)                { return Usage{}, u.err() }
func (unavailable) ApplyLimits(string, *limits.Resources) error  { return nil }
func (u unavailable) Attach(string, *idmap.Map, Device) error    { return nil }
func (u unavailable) Detach(string, Device) error                { return nil }
func (unavailable) Watch(string)                                 {}
func (unavailable) OnExit(func(string))                          {}
