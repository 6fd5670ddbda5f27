package server

import (
	"github.com/lodge-project/lodge/internal/imageserver"
	instruntime "github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/instance/runtime/container"
	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/storage/btrfs"
	"github.com/lodge-project/lodge/internal/storage/dir"
)

// runtimes is the one place instance types meet their runtimes: a new
// instance type is one more line here.
func runtimes(ct *container.Driver) instruntime.Registry {
	return instruntime.Registry{"container": ct}
}

// storageDrivers is the one place storage drivers are listed: a new driver
// is one package and one line here.
func storageDrivers() storage.Registry {
	return storage.Registry{
		"dir":   storage.Plain(func(path string) (storage.Driver, error) { return dir.New(path) }),
		"btrfs": btrfs.Type(),
	}
}

// imageServers is the one place image server protocols are listed.
func imageServers() imageserver.Registry {
	return imageserver.Registry{"lxd": imageserver.OpenLXD, "simplestreams": imageserver.OpenSimplestreams}
}
