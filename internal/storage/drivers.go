package storage

import (
	"context"
	"fmt"
	"sort"

	"github.com/lodge-project/lodge/internal/apierr"
)

// PoolSpec is what a driver is given to make or open one pool.
type PoolSpec struct {
	Name string
	// Root is where the pool's volumes live: the source directory, or
	// $LODGE_DIR/storage-pools/<name> (a mount point for a pool on a
	// device or a loop file).
	Root string
	// Config is the pool's config (source, size, driver keys).
	Config map[string]string
	// DisksDir is $LODGE_DIR/disks, where loop files are made.
	DisksDir string
}

// DriverType is one storage driver as the registry knows it.
type DriverType struct {
	// Keys are the config keys its pools take, each with whether it may
	// change once the pool exists.
	Keys map[string]bool
	// Create makes a new pool's backing store (formats a device, makes
	// a loop file) and opens it. It returns the config to record, with
	// what it chose filled in (a loop file's source and size). A failure
	// leaves nothing behind.
	Create func(ctx context.Context, spec PoolSpec) (Driver, map[string]string, error)
	// Open opens an existing pool (mounting what it is on, if need be).
	Open func(spec PoolSpec) (Driver, error)
}

// Destroyer is a driver whose pool has a backing store of its own (a
// mount, a loop file): deleting the pool releases it.
type Destroyer interface {
	Destroy() error
}

// Plain is the DriverType of a driver whose pool is a directory tree at
// its root, taking only the source key.
func Plain(open func(root string) (Driver, error)) DriverType {
	return DriverType{
		Keys: map[string]bool{"source": false},
		Create: func(_ context.Context, spec PoolSpec) (Driver, map[string]string, error) {
			if src := spec.Config["source"]; src != "" && onDevice(src) {
				return nil, nil, apierr.BadRequest("source %s is not a directory: this driver keeps its volumes in a directory", src)
			}
			d, err := open(spec.Root)
			return d, spec.Config, err
		},
		Open: func(spec PoolSpec) (Driver, error) { return open(spec.Root) },
	}
}

// Registry maps a driver's name to its type. lodged's is built in one
// place (internal/server/registries.go).
type Registry map[string]DriverType

// Type is driver name's type.
func (r Registry) Type(name string) (DriverType, error) {
	t, ok := r[name]
	if !ok {
		return DriverType{}, fmt.Errorf("unknown storage driver %q", name)
	}
	return t, nil
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
