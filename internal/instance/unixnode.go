package instance

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/instance/runtime"
)

// makeUnixNode makes dev's node at path, owned by its ids shifted onto m
// (host root's for a nil map) with its mode, and returns dev with that node
// as its source. A node there already is replaced.
func makeUnixNode(dev runtime.UnixDev, path string, m *idmap.Map) (runtime.UnixDev, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return dev, err
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return dev, err
	}
	typ := uint32(unix.S_IFCHR)
	if dev.Block {
		typ = unix.S_IFBLK
	}
	if err := unix.Mknod(path, typ|0o600, int(unix.Mkdev(uint32(dev.Major), uint32(dev.Minor)))); err != nil {
		return dev, fmt.Errorf("make node %d:%d for %s: %w", dev.Major, dev.Minor, dev.Path, err)
	}
	if err := unix.Lchown(path, int(m.ShiftUID(dev.UID)), int(m.ShiftGID(dev.GID))); err != nil {
		os.Remove(path)
		return dev, err
	}
	if err := unix.Chmod(path, dev.Mode&0o777); err != nil {
		os.Remove(path)
		return dev, err
	}
	dev.Source = path
	return dev, nil
}
