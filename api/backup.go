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
