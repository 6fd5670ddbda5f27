package storage

import (
	"fmt"
	"sort"

	"github.com/lodge-project/lodge/internal/storage/dir"
)

// Registry maps a driver's name to its constructor, which opens (or makes)
// a pool whose volumes live at path.
type Registry map[string]func(path string) (Driver, error)

// Drivers is the one place storage drivers are listed: a new driver is
// one package and one line here.
func Drivers() Registry {
	return Registry{
		"dir": func(path string) (Driver, error) { return dir.New(path) },
	}
}

// New opens a pool of driver name at path.
func (r Registry) New(name, path string) (Driver, error) {
	ctor, ok := r[name]
	if !ok {
		return nil, fmt.Errorf("unknown storage driver %q", name)
	}
	return ctor(path)
}

// Names lists the drivers in name order.
func (r Registry) Names() []string {
	out := make([]string, 0, len(r))
	for n := range r {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
