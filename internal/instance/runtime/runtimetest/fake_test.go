package runtimetest

import (
	"testing"

	"github.com/lodge-project/lodge/internal/instance/runtime"
)

// The in-memory runtime passes the suite the real ones pass.
func TestFakeConformance(t *testing.T) {
	Run(t, Subject{
		New: func(*testing.T) runtime.Runtime { return New() },
		Spec: func(t *testing.T, name string) runtime.Spec {
			return runtime.Spec{Name: name, Rootfs: "/nonexistent/rootfs", Limits: DefaultLimits(2)}
		},
	})
}
