package storagetest

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/storage"
)

// Memory is an in-memory storage driver for the instance service's unit
// tests: it keeps which volumes, snapshots and images exist and how they
// are owned, and holds no files. Paths it returns name nothing on disk.
type Memory struct {
	mu     sync.Mutex
	root   string
	images map[string]bool
	vols   map[string]*MemoryVolume
	// FailCreate, when set, makes the next volume creation fail with it.
	FailCreate error
}

// MemoryVolume is one instance volume of a Memory driver.
type MemoryVolume struct {
	Image     string
	IDMap     *idmap.Map
	Mounted   bool
	Snapshots []string
	// restoring is the snapshot a prepared restore brings back.
	restoring string
}

// NewMemory makes an empty driver whose paths are under root.
func NewMemory(root string) *Memory {
	return &Memory{root: root, images: map[string]bool{}, vols: map[string]*MemoryVolume{}}
}

var _ storage.Driver = (*Memory)(nil)

// Volume returns a copy of instance name's volume, and whether it exists.
func (m *Memory) Volume(name string) (MemoryVolume, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.vols[name]
	if !ok {
		return MemoryVolume{}, false
	}
	c := *v
	c.Snapshots = slices.Clone(v.Snapshots)
	return c, true
}

func (m *Memory) Name() string { return "memory" }

func (m *Memory) CreateImageVolume(fp string, unpack func(dir string) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.images[fp] = true
	return nil
}

func (m *Memory) HasImageVolume(fp string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.images[fp]
}

func (m *Memory) ImageVolumePath(fp string) string { return filepath.Join(m.root, "images", fp) }

func (m *Memory) ImageVolumeNames() ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return sortedKeys(m.images), nil
}

func (m *Memory) DeleteImageVolume(fp string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.images, fp)
	return nil
}

func (m *Memory) create(name string, v *MemoryVolume) error {
	if err := m.FailCreate; err != nil {
		m.FailCreate = nil
		return err
	}
	if _, ok := m.vols[name]; ok {
		return fmt.Errorf("volume %q exists", name)
	}
	m.vols[name] = v
	return nil
}

func (m *Memory) CreateInstanceFromImage(ctx context.Context, name, fp string, idm *idmap.Map) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if !m.images[fp] {
		return fmt.Errorf("image %s has no volume", fp)
	}
	return m.create(name, &MemoryVolume{Image: fp, IDMap: idm})
}

func (m *Memory) CreateEmptyInstance(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.create(name, &MemoryVolume{})
}

func (m *Memory) DeleteInstance(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.vols, name)
	return nil
}

func (m *Memory) vol(name string) (*MemoryVolume, error) {
	v, ok := m.vols[name]
	if !ok {
		return nil, fmt.Errorf("volume %q does not exist", name)
	}
	return v, nil
}

func (m *Memory) MountInstance(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, err := m.vol(name)
	if err == nil {
		v.Mounted = true
	}
	return err
}

func (m *Memory) UnmountInstance(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.vols[name]; ok {
		v.Mounted = false
	}
	return nil
}

func (m *Memory) RemapInstance(name string, from, to *idmap.Map) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, err := m.vol(name)
	if err == nil {
		v.IDMap = to
	}
	return err
}

func (m *Memory) RenameInstance(oldName, newName string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, err := m.vol(oldName)
	if err != nil {
		return err
	}
	if _, ok := m.vols[newName]; ok {
		return fmt.Errorf("volume %q exists", newName)
	}
	m.vols[newName] = v
	delete(m.vols, oldName)
	return nil
}

func (m *Memory) UndoRename(oldName, newName string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.vols[newName]; ok {
		m.vols[oldName] = v
		delete(m.vols, newName)
	}
	return nil
}

func (m *Memory) InstancePath(name string) string { return filepath.Join(m.root, "volumes", name) }

func (m *Memory) InstanceNames() ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return sortedKeys(m.vols), nil
}

func (m *Memory) CopyInstance(ctx context.Context, src, srcSnap, dst string, withSnapshots bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	v, err := m.vol(src)
	if err != nil {
		return err
	}
	if srcSnap != "" && !slices.Contains(v.Snapshots, srcSnap) {
		return fmt.Errorf("snapshot %s/%s does not exist", src, srcSnap)
	}
	c := &MemoryVolume{Image: v.Image, IDMap: v.IDMap}
	if withSnapshots {
		c.Snapshots = slices.Clone(v.Snapshots)
	}
	return m.create(dst, c)
}

func (m *Memory) CreateSnapshot(ctx context.Context, name, snap string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	v, err := m.vol(name)
	if err != nil {
		return err
	}
	if slices.Contains(v.Snapshots, snap) {
		return fmt.Errorf("snapshot %s/%s exists", name, snap)
	}
	v.Snapshots = append(v.Snapshots, snap)
	return nil
}

func (m *Memory) DeleteSnapshot(name, snap string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.vols[name]; ok {
		v.Snapshots = slices.DeleteFunc(v.Snapshots, func(s string) bool { return s == snap })
	}
	return nil
}

func (m *Memory) RenameSnapshot(name, oldSnap, newSnap string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, err := m.vol(name)
	if err != nil {
		return err
	}
	i := slices.Index(v.Snapshots, oldSnap)
	if i < 0 {
		return fmt.Errorf("snapshot %s/%s does not exist", name, oldSnap)
	}
	v.Snapshots[i] = newSnap
	return nil
}

func (m *Memory) PrepareRestore(ctx context.Context, name, snap string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	v, err := m.vol(name)
	if err != nil {
		return err
	}
	if !slices.Contains(v.Snapshots, snap) {
		return fmt.Errorf("snapshot %s/%s does not exist", name, snap)
	}
	v.restoring = snap
	return nil
}

func (m *Memory) FinishRestore(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.vols[name]; ok {
		v.restoring = ""
	}
	return nil
}

func (m *Memory) CancelRestore(name string) error { return m.FinishRestore(name) }

func (m *Memory) SnapshotNames(name string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.vols[name]; ok {
		out := slices.Clone(v.Snapshots)
		sort.Strings(out)
		return out, nil
	}
	return nil, nil
}

func (m *Memory) RepairInstance(name string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, err := m.vol(name)
	if err != nil {
		return "", err
	}
	var did []string
	if v.restoring != "" {
		v.restoring = ""
		did = append(did, "dropped a prepared restore")
	}
	v.Mounted = true
	return strings.Join(did, "; "), nil
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
