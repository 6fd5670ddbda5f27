package storage

import "github.com/lodge-project/lodge/internal/storage/dir"

// registry is the one place storage drivers are listed.
var registry = map[string]func(path string) (Driver, error){
	"dir": func(path string) (Driver, error) { return dir.New(path) },
}
