package api

import "time"

// StoragePool is a pool as /1.0/storage-pools reports it.
type StoragePool struct {
	Name        string            `json:"name" yaml:"name"`
	Driver      string            `json:"driver" yaml:"driver"`
	Description string            `json:"description" yaml:"description"`
	Config      map[string]string `json:"config" yaml:"config"`
	UsedBy      []string          `json:"used_by" yaml:"used_by"`
	Status      string            `json:"status" yaml:"status"`
	Locations   []string          `json:"locations" yaml:"locations"`
}

// StoragePoolPut is what PUT and PATCH /1.0/storage-pools/<name> change.
type StoragePoolPut struct {
	Description string            `json:"description" yaml:"description"`
	Config      map[string]string `json:"config" yaml:"config"`
}

// StoragePoolsPost creates a pool.
type StoragePoolsPost struct {
	StoragePoolPut `yaml:",inline"`
	Name           string `json:"name" yaml:"name"`
	Driver         string `json:"driver" yaml:"driver"`
}

// StorageVolumePut is what PUT and PATCH of a volume change.
type StorageVolumePut struct {
	Config      map[string]string `json:"config" yaml:"config"`
	Description string            `json:"description" yaml:"description"`
	// Restore names a volume snapshot to restore (PUT only).
	Restore string `json:"restore,omitempty" yaml:"restore,omitempty"`
}

// StorageVolume is a volume of a pool, as /1.0/storage-pools/<pool>/volumes
// reports it.
type StorageVolume struct {
	StorageVolumePut `yaml:",inline"`
	Name             string    `json:"name" yaml:"name"`
	Type             string    `json:"type" yaml:"type"`
	UsedBy           []string  `json:"used_by" yaml:"used_by"`
	Location         string    `json:"location" yaml:"location"`
	ContentType      string    `json:"content_type" yaml:"content_type"`
	Project          string    `json:"project" yaml:"project"`
	CreatedAt        time.Time `json:"created_at" yaml:"created_at"`
}

// StorageVolumeSource says where a new volume's data comes from (empty:
// nowhere, an empty volume).
type StorageVolumeSource struct {
	Name string `json:"name" yaml:"name"`
	Type string `json:"type" yaml:"type"`
	Pool string `json:"pool" yaml:"pool"`
	// VolumeOnly leaves a copied volume's snapshots behind.
	VolumeOnly bool `json:"volume_only" yaml:"volume_only"`
	// A volume from another host (type migration): pulled from the
	// source's Operation with its Websockets' secrets and Certificate, or
	// pushed here (mode push).
	Mode        string            `json:"mode,omitempty" yaml:"mode,omitempty"`
	Operation   string            `json:"operation,omitempty" yaml:"operation,omitempty"`
	Certificate string            `json:"certificate" yaml:"certificate"`
	Websockets  map[string]string `json:"secrets,omitempty" yaml:"secrets,omitempty"`
	Refresh     bool              `json:"refresh" yaml:"refresh"`
	Project     string            `json:"project,omitempty" yaml:"project,omitempty"`
}

// StorageVolumePost renames a volume, moves it to another pool, or (with
// Migration) sends it to another host.
type StorageVolumePost struct {
	Name       string                   `json:"name" yaml:"name"`
	Pool       string                   `json:"pool,omitempty" yaml:"pool,omitempty"`
	Migration  bool                     `json:"migration" yaml:"migration"`
	Target     *StorageVolumePostTarget `json:"target" yaml:"target"`
	VolumeOnly bool                     `json:"volume_only" yaml:"volume_only"`
	Project    string                   `json:"project,omitempty" yaml:"project,omitempty"`
}

// StorageVolumePostTarget is the target host's migration operation, for
// a push: the same as an instance's.
type StorageVolumePostTarget = InstancePostTarget

// StorageVolumeSnapshotsPost creates a volume snapshot.
type StorageVolumeSnapshotsPost struct {
	Name      string     `json:"name" yaml:"name"`
	ExpiresAt *time.Time `json:"expires_at" yaml:"expires_at"`
}

// StorageVolumeSnapshotPut is what PUT of a volume snapshot changes.
type StorageVolumeSnapshotPut struct {
	Description string     `json:"description" yaml:"description"`
	ExpiresAt   *time.Time `json:"expires_at" yaml:"expires_at"`
}

// StorageVolumeSnapshot is a custom volume's snapshot.
type StorageVolumeSnapshot struct {
	StorageVolumeSnapshotPut `yaml:",inline"`
	Name                     string            `json:"name" yaml:"name"`
	Config                   map[string]string `json:"config" yaml:"config"`
	ContentType              string            `json:"content_type" yaml:"content_type"`
	CreatedAt                time.Time         `json:"created_at" yaml:"created_at"`
}

// StorageVolumeSnapshotPost renames a volume snapshot.
type StorageVolumeSnapshotPost struct {
	Name string `json:"name" yaml:"name"`
}

// StorageVolumesPost creates a volume.
type StorageVolumesPost struct {
	StorageVolumePut `yaml:",inline"`
	Name             string              `json:"name" yaml:"name"`
	Type             string              `json:"type" yaml:"type"`
	Source           StorageVolumeSource `json:"source" yaml:"source"`
	ContentType      string              `json:"content_type" yaml:"content_type"`
}

// StoragePoolResources is GET /1.0/storage-pools/<name>/resources: what
// the pool's filesystem holds and has room for.
type StoragePoolResources struct {
	Space  StoragePoolSpace  `json:"space" yaml:"space"`
	Inodes StoragePoolInodes `json:"inodes" yaml:"inodes"`
}

// StoragePoolSpace is a pool's disk space in bytes.
type StoragePoolSpace struct {
	Used  uint64 `json:"used,omitempty" yaml:"used,omitempty"`
	Total uint64 `json:"total" yaml:"total"`
}

// StoragePoolInodes is a pool's inode count (btrfs reports none).
type StoragePoolInodes struct {
	Used  uint64 `json:"used" yaml:"used"`
	Total uint64 `json:"total" yaml:"total"`
}

// StoragePoolVolumeBackupsPost creates a custom volume backup.
type StoragePoolVolumeBackupsPost struct {
	Name                 string    `json:"name" yaml:"name"`
	ExpiresAt            time.Time `json:"expires_at" yaml:"expires_at"`
	VolumeOnly           bool      `json:"volume_only" yaml:"volume_only"`
	OptimizedStorage     bool      `json:"optimized_storage" yaml:"optimized_storage"`
	CompressionAlgorithm string    `json:"compression_algorithm" yaml:"compression_algorithm"`
}

// StoragePoolVolumeBackup is a custom volume backup.
type StoragePoolVolumeBackup struct {
	Name             string    `json:"name" yaml:"name"`
	CreatedAt        time.Time `json:"created_at" yaml:"created_at"`
	ExpiresAt        time.Time `json:"expires_at" yaml:"expires_at"`
	VolumeOnly       bool      `json:"volume_only" yaml:"volume_only"`
	OptimizedStorage bool      `json:"optimized_storage" yaml:"optimized_storage"`
}

// StorageVolumeState is GET of a volume's state: what it holds, when the
// pool's driver can tell.
type StorageVolumeState struct {
	Usage *StorageVolumeStateUsage `json:"usage" yaml:"usage"`
}

// StorageVolumeStateUsage is a volume's use and limit in bytes (Total
// -1: no limit).
type StorageVolumeStateUsage struct {
	Used  uint64 `json:"used,omitempty" yaml:"used,omitempty"`
	Total int64  `json:"total" yaml:"total"`
}
