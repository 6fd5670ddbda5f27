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
	vols   map[storage.Volume]*MemoryVolume
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
	return &Memory{root: root, images: map[string]bool{}, vols: map[storage.Volume]*MemoryVolume{}}
}

var _ storage.Driver = (*Memory)(nil)

// Volume returns a copy of the default project's container volume name,
// and whether it exists.
func (m *Memory) Volume(name string) (MemoryVolume, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.byName(name)
	if !ok {
		return MemoryVolume{}, false
	}
	c := *v
	c.Snapshots = slices.Clone(v.Snapshots)
	return c, true
}

// byName finds a volume by storage name, of any pool.
func (m *Memory) byName(name string) (*MemoryVolume, bool) {
	for k, v := range m.vols {
		if k.StorageName() == name {
			return v, true
		}
	}
	return nil, false
}

// key drops the pool name: a driver serves one pool, whatever it is called.
func key(v storage.Volume) storage.Volume {
	v.Pool = ""
	return v
}

func (m *Memory) Name() string { return "memory" }

// Capabilities: every type of volume, filesystems and blocks alike
// (nothing is written anyway).
func (m *Memory) Capabilities() storage.Capabilities {
	return storage.Capabilities{OptimizedImages: true, CoWSnapshots: true, BlockVolumes: true,
		VolumeTypes: []storage.VolumeType{storage.TypeContainer, storage.TypeVM, storage.TypeCustom, storage.TypeImage}}
}

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

func (m *Memory) create(vol storage.Volume, v *MemoryVolume) error {
	if err := m.FailCreate; err != nil {
		m.FailCreate = nil
		return err
	}
	if _, ok := m.vols[key(vol)]; ok {
		return fmt.Errorf("volume %q exists", vol.Name)
	}
	m.vols[key(vol)] = v
	return nil
}

func (m *Memory) CreateVolumeFromImage(ctx context.Context, name storage.Volume, fp string, idm *idmap.Map) error {
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

func (m *Memory) CreateEmptyVolume(name storage.Volume) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.create(name, &MemoryVolume{})
}

func (m *Memory) DeleteVolume(name storage.Volume) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.vols, key(name))
	return nil
}

func (m *Memory) vol(vol storage.Volume) (*MemoryVolume, error) {
	v, ok := m.vols[key(vol)]
	if !ok {
		return nil, fmt.Errorf("volume %q does not exist", vol.Name)
	}
	return v, nil
}

func (m *Memory) MountVolume(name storage.Volume) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, err := m.vol(name)
	if err == nil {
		v.Mounted = true
	}
	return err
}

func (m *Memory) UnmountVolume(name storage.Volume) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.vols[key(name)]; ok {
		v.Mounted = false
	}
	return nil
}

func (m *Memory) RemapVolume(name storage.Volume, from, to *idmap.Map) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, err := m.vol(name)
	if err == nil {
		v.IDMap = to
	}
	return err
}

func (m *Memory) RenameVolume(old storage.Volume, newName string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, err := m.vol(old)
	if err != nil {
		return err
	}
	if _, ok := m.vols[key(old.Renamed(newName))]; ok {
		return fmt.Errorf("volume %q exists", newName)
	}
	m.vols[key(old.Renamed(newName))] = v
	delete(m.vols, key(old))
	return nil
}

func (m *Memory) UndoRename(old storage.Volume, newName string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.vols[key(old.Renamed(newName))]; ok {
		m.vols[key(old)] = v
		delete(m.vols, key(old.Renamed(newName)))
	}
	return nil
}

func (m *Memory) VolumePath(v storage.Volume) string {
	return filepath.Join(m.root, string(v.Type), v.StorageName())
}

func (m *Memory) VolumeNames(typ storage.VolumeType) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.vols {
		if k.Type == typ {
			out = append(out, k.StorageName())
		}
	}
	sort.Strings(out)
	return out, nil
}

func (m *Memory) CopyVolume(ctx context.Context, src storage.Volume, srcSnap string, dst storage.Volume, withSnapshots bool) error {
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
		return fmt.Errorf("snapshot %s/%s does not exist", src.Name, srcSnap)
	}
	c := &MemoryVolume{Image: v.Image, IDMap: v.IDMap}
	if withSnapshots {
		c.Snapshots = slices.Clone(v.Snapshots)
	}
	return m.create(dst, c)
}

func (m *Memory) CreateSnapshot(ctx context.Context, name storage.Volume, snap string) error {
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
		return fmt.Errorf("snapshot %s/%s exists", name.Name, snap)
	}
	v.Snapshots = append(v.Snapshots, snap)
	return nil
}

func (m *Memory) DeleteSnapshot(name storage.Volume, snap string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.vols[key(name)]; ok {
		v.Snapshots = slices.DeleteFunc(v.Snapshots, func(s string) bool { return s == snap })
	}
	return nil
}

func (m *Memory) RenameSnapshot(name storage.Volume, oldSnap, newSnap string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, err := m.vol(name)
	if err != nil {
		return err
	}
	i := slices.Index(v.Snapshots, oldSnap)
	if i < 0 {
		return fmt.Errorf("snapshot %s/%s does not exist", name.Name, oldSnap)
	}
	v.Snapshots[i] = newSnap
	return nil
}

func (m *Memory) PrepareRestore(ctx context.Context, name storage.Volume, snap string) error {
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
		return fmt.Errorf("snapshot %s/%s does not exist", name.Name, snap)
	}
	v.restoring = snap
	return nil
}

// ViewSnapshot shows the volume's directory: the memory driver keeps
// which snapshots exist, not their files.
func (m *Memory) ViewSnapshot(ctx context.Context, name storage.Volume, snap string, fn func(dir string) error) error {
	m.mu.Lock()
	v, err := m.vol(name)
	ok := err == nil && slices.Contains(v.Snapshots, snap)
	m.mu.Unlock()
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("snapshot %s/%s does not exist", name.Name, snap)
	}
	return fn(m.VolumePath(name))
}

func (m *Memory) FinishRestore(name storage.Volume) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.vols[key(name)]; ok {
		v.restoring = ""
	}
	return nil
}

func (m *Memory) CancelRestore(name storage.Volume) error { return m.FinishRestore(name) }

func (m *Memory) SnapshotNames(name storage.Volume) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.vols[key(name)]; ok {
		out := slices.Clone(v.Snapshots)
		sort.Strings(out)
		return out, nil
	}
	return nil, nil
}

func (m *Memory) RepairVolume(name storage.Volume) (string, error) {
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

// RemoveLeftovers drops prepared restores; nothing else is ever half made.
func (m *Memory) RemoveLeftovers() ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var removed []string
	for k, v := range m.vols {
		if v.restoring != "" {
			v.restoring = ""
			removed = append(removed, k.StorageName()+" restore")
		}
	}
	return removed, nil
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
