package storage

import (
	"fmt"
	"sort"
)

// Registry maps a driver's name to its constructor, which opens (or makes)
// a pool whose volumes live at path. lodged's is built in one place
// (internal/server/registries.go).
type Registry map[string]func(path string) (Driver, error)

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
