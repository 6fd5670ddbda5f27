// Package backup reads and writes instance backups in LXD's tarball
// layout, so that backups move between Lodge and LXD both ways:
//
//	backup/index.yaml              what the backup holds (Index)
//	backup/snapshots/<snap>/...    each snapshot's volume, oldest first
//	backup/container/...           the instance's volume: rootfs/,
//	                               metadata.yaml, templates/, backup.yaml
//
// Files carry the instance's own ids (container root is 0): the index's
// volatile.last_state.idmap says "[]", which LXD reads as unshifted and
// shifts at the first start. Backups from LXD carry LXD's host ids and
// the map they are on, which the importer moves to its own.
package backup

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/idmap"
)

// Index is backup/index.yaml (LXD's backup.Info).
type Index struct {
	Name            string   `yaml:"name"`
	Backend         string   `yaml:"backend"`
	Pool            string   `yaml:"pool"`
	Snapshots       []string `yaml:"snapshots,omitempty"`
	Optimized       *bool    `yaml:"optimized,omitempty"`
	OptimizedHeader *bool    `yaml:"optimized_header,omitempty"`
	Type            string   `yaml:"type,omitempty"`
	Config          *Config  `yaml:"config,omitempty"`
	// LodgeSince marks an incremental backup (Lodge's): it holds only
	// what changed since the backup it names, which must be imported with
	// it.
	LodgeSince *api.BackupSince `yaml:"lodge_since,omitempty"`
	// LodgeTrees lists the trees a backup of files holds, with their ids
	// (Lodge's), for an incremental one to say what it builds on.
	LodgeTrees []api.BackupStream `yaml:"lodge_trees,omitempty"`
	// Header is backup/optimized_header.yaml, read beside the index.
	Header *OptimizedHeader `yaml:"-"`
}

// Config is backup.yaml, also embedded in the index: the instance, its
// snapshots, its pool and its volume as the API shows them. It is also
// the migration index header, in JSON, where LXD names its fields as Go
// does (no tags).
type Config struct {
	Container       *api.Instance           `yaml:"container,omitempty"`
	Snapshots       []*api.InstanceSnapshot `yaml:"snapshots,omitempty"`
	Pool            *api.StoragePool        `yaml:"pool,omitempty"`
	Volume          *api.StorageVolume      `yaml:"volume,omitempty"`
	VolumeSnapshots []*VolumeSnapshot       `yaml:"volume_snapshots,omitempty"`
}

// VolumeSnapshot is one snapshot of the instance's volume.
type VolumeSnapshot struct {
	Name        string            `yaml:"name" json:"name"`
	Description string            `yaml:"description" json:"description"`
	Config      map[string]string `yaml:"config" json:"config"`
	ContentType string            `yaml:"content_type" json:"content_type"`
	CreatedAt   time.Time         `yaml:"created_at" json:"created_at"`
	ExpiresAt   *time.Time        `yaml:"expires_at" json:"expires_at"`
}

// IsOptimized says whether the backup holds a driver's own stream rather
// than files.
func (i Index) IsOptimized() bool { return i.Optimized != nil && *i.Optimized }

// lxdIDMapEntry is one entry of LXD's volatile.*.idmap JSON.
type lxdIDMapEntry struct {
	Isuid    bool
	Isgid    bool
	Hostid   int64
	Nsid     int64
	Maprange int64
}

// FilesIDMap is the map the files of a backed-up instance (or snapshot)
// with config cfg are on: LXD's volatile.last_state.idmap. Empty ("[]",
// or no key) is the instance's own ids; anything but one range from
// container id 0, for uids and gids, is refused.
func FilesIDMap(cfg map[string]string) (*idmap.Map, error) {
	raw := cfg["volatile.last_state.idmap"]
	if raw == "" || raw == "[]" {
		return nil, nil
	}
	var entries []lxdIDMapEntry
	if err := json.Unmarshal([]byte(raw), &entries); err != nil {
		return nil, fmt.Errorf("volatile.last_state.idmap: %w", err)
	}
	var uids, gids []idmap.Range
	for _, e := range entries {
		if e.Nsid < 0 || e.Hostid < 0 || e.Maprange <= 0 || e.Hostid+e.Maprange > 1<<32-1 || e.Nsid+e.Maprange > 1<<32-1 {
			return nil, fmt.Errorf("volatile.last_state.idmap: entry %+v is out of range", e)
		}
		r := idmap.Range{Container: uint32(e.Nsid), Host: uint32(e.Hostid), Size: uint32(e.Maprange)}
		if e.Isuid {
			uids = append(uids, r)
		}
		if e.Isgid {
			gids = append(gids, r)
		}
	}
	m, err := idmap.FromRanges(uids, gids)
	if err != nil {
		return nil, fmt.Errorf("volatile.last_state.idmap: %w", err)
	}
	return m, nil
}
