package server

import (
	instruntime "github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/instance/runtime/container"
)

// runtimes is the one place instance types meet their runtimes: a new
// instance type is one more line here.
func runtimes(ct *container.Driver) instruntime.Registry {
	return instruntime.Registry{"container": ct}
}
