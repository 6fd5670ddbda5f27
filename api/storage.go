package api

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
