package api

import "time"

// InstanceBackupsPost is the body of POST /1.0/instances/<name>/backups.
type InstanceBackupsPost struct {
	Name                 string    `json:"name" yaml:"name"`
	ExpiresAt            time.Time `json:"expires_at" yaml:"expires_at"`
	InstanceOnly         bool      `json:"instance_only" yaml:"instance_only"`
	ContainerOnly        bool      `json:"container_only" yaml:"container_only"` // older clients' name for InstanceOnly
	OptimizedStorage     bool      `json:"optimized_storage" yaml:"optimized_storage"`
	CompressionAlgorithm string    `json:"compression_algorithm" yaml:"compression_algorithm"`
	// LodgeSince (lodge_incremental_backups) asks for an incremental
	// backup: only what changed since the earlier optimized backup it
	// describes.
	LodgeSince *BackupSince `json:"lodge_since,omitempty" yaml:"lodge_since,omitempty"`
}

// BackupSince describes the earlier backup an incremental one builds on:
// its file's name (the importer looks for it beside the new one) and the
// streams it holds, as its optimized_header.yaml lists them.
type BackupSince struct {
	File string `json:"file" yaml:"file"`
	// Optimized: the earlier backup holds streams, and so does this one.
	Optimized bool           `json:"optimized" yaml:"optimized"`
	Streams   []BackupStream `json:"streams" yaml:"streams"`
}

// BackupStream is one stream of an optimized backup: a snapshot's, or the
// volume's (Snapshot ""), with the id of what it sent.
type BackupStream struct {
	Snapshot string `json:"snapshot" yaml:"snapshot"`
	UUID     string `json:"uuid" yaml:"uuid"`
}

// InstanceBackup is a backup as GET /1.0/instances/<name>/backups/<backup>
// shows it.
type InstanceBackup struct {
	Name             string    `json:"name" yaml:"name"`
	CreatedAt        time.Time `json:"created_at" yaml:"created_at"`
	ExpiresAt        time.Time `json:"expires_at" yaml:"expires_at"`
	InstanceOnly     bool      `json:"instance_only" yaml:"instance_only"`
	ContainerOnly    bool      `json:"container_only" yaml:"container_only"`
	OptimizedStorage bool      `json:"optimized_storage" yaml:"optimized_storage"`
}

// InstanceBackupPost renames a backup.
type InstanceBackupPost struct {
	Name string `json:"name" yaml:"name"`
}
