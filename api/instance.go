package api

import "time"

// Instance is an instance as GET /1.0/instances/<name> reports it.
type Instance struct {
	Architecture    string                       `json:"architecture" yaml:"architecture"`
	Config          map[string]string            `json:"config" yaml:"config"`
	Devices         map[string]map[string]string `json:"devices" yaml:"devices"`
	Ephemeral       bool                         `json:"ephemeral" yaml:"ephemeral"`
	Profiles        []string                     `json:"profiles" yaml:"profiles"`
	Stateful        bool                         `json:"stateful" yaml:"stateful"`
	Description     string                       `json:"description" yaml:"description"`
	CreatedAt       time.Time                    `json:"created_at" yaml:"created_at"`
	ExpandedConfig  map[string]string            `json:"expanded_config" yaml:"expanded_config"`
	ExpandedDevices map[string]map[string]string `json:"expanded_devices" yaml:"expanded_devices"`
	Name            string                       `json:"name" yaml:"name"`
	Status          string                       `json:"status" yaml:"status"`
	StatusCode      int                          `json:"status_code" yaml:"status_code"`
	LastUsedAt      time.Time                    `json:"last_used_at" yaml:"last_used_at"`
	Location        string                       `json:"location" yaml:"location"`
	Type            string                       `json:"type" yaml:"type"`
	Project         string                       `json:"project" yaml:"project"`
}

// InstanceFull is an instance with its state, for recursion=2.
type InstanceFull struct {
	Instance  `yaml:",inline"`
	State     *InstanceState `json:"state" yaml:"state"`
	Snapshots []any          `json:"snapshots" yaml:"snapshots"`
	Backups   []any          `json:"backups" yaml:"backups"`
}

// InstancePut is the writable part of an instance (PUT and PATCH).
type InstancePut struct {
	Architecture string                       `json:"architecture" yaml:"architecture"`
	Config       map[string]string            `json:"config" yaml:"config"`
	Devices      map[string]map[string]string `json:"devices" yaml:"devices"`
	Ephemeral    bool                         `json:"ephemeral" yaml:"ephemeral"`
	Profiles     []string                     `json:"profiles" yaml:"profiles"`
	Stateful     bool                         `json:"stateful" yaml:"stateful"`
	Description  string                       `json:"description" yaml:"description"`
	// Restore names a snapshot to restore (PUT only).
	Restore string `json:"restore,omitempty" yaml:"restore,omitempty"`
}

// InstanceSource says where a new instance's root filesystem comes from.
type InstanceSource struct {
	Type        string `json:"type"`
	Alias       string `json:"alias,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	Server      string `json:"server,omitempty"`
	Protocol    string `json:"protocol,omitempty"`
	// Certificate is the image server's (PEM), or the migration source's;
	// Secret opens a private image there; Mode is a migration's "pull"
	// (the target connects to the source) or "push" (the other way).
	Certificate string `json:"certificate,omitempty"`
	Secret      string `json:"secret,omitempty"`
	Mode        string `json:"mode,omitempty"`
	// Operation is the source's migration operation (its URL) and
	// Websockets its websockets' secrets, for a pull.
	Operation  string            `json:"operation,omitempty"`
	Websockets map[string]string `json:"secrets,omitempty"`
	BaseImage  string            `json:"base-image,omitempty"`
	// Live asks for a stateful migration; Refresh updates an instance the
	// target has; AllowInconsistent takes files that vanish as copied.
	Live              bool   `json:"live,omitempty"`
	Refresh           bool   `json:"refresh,omitempty"`
	AllowInconsistent bool   `json:"allow_inconsistent,omitempty"`
	Project           string `json:"project,omitempty"`
	// Source is the instance (or instance/snapshot) to copy.
	Source       string `json:"source,omitempty"`
	InstanceOnly bool   `json:"instance_only,omitempty"`
}

// InstancesPost is the body of POST /1.0/instances.
type InstancesPost struct {
	InstancePut
	Name         string         `json:"name"`
	Source       InstanceSource `json:"source"`
	InstanceType string         `json:"instance_type"`
	Type         string         `json:"type"`
	Start        bool           `json:"start"`
}

// InstancePost renames an instance.
type InstancePost struct {
	Name      string `json:"name"`
	Migration bool   `json:"migration"`
	// Pool, with Migration, moves the instance to another storage pool
	// (instance_pool_move); InstanceOnly leaves its snapshots behind.
	Pool         string `json:"pool,omitempty"`
	InstanceOnly bool   `json:"instance_only,omitempty"`
	Live         bool   `json:"live,omitempty"`
	// Target, with Migration, makes the source connect to the target's
	// operation (push mode); without it the target connects (pull).
	Target            *InstancePostTarget `json:"target,omitempty"`
	AllowInconsistent bool                `json:"allow_inconsistent,omitempty"`
	// Project moves the instance to another project of this host
	// (instance_project_move).
	Project string `json:"project,omitempty"`
}

// InstancePostTarget is where a pushed migration goes: the target's
// operation, its websockets' secrets and its certificate.
type InstancePostTarget struct {
	Certificate string            `json:"certificate"`
	Operation   string            `json:"operation,omitempty"`
	Websockets  map[string]string `json:"secrets,omitempty"`
}

// InstanceStatePut is the body of PUT /1.0/instances/<name>/state.
type InstanceStatePut struct {
	Action   string `json:"action"`
	Timeout  int    `json:"timeout"`
	Force    bool   `json:"force"`
	Stateful bool   `json:"stateful"`
}

// InstanceState is GET /1.0/instances/<name>/state.
type InstanceState struct {
	Status     string                          `json:"status" yaml:"status"`
	StatusCode int                             `json:"status_code" yaml:"status_code"`
	Disk       map[string]InstanceStateDisk    `json:"disk" yaml:"disk"`
	Memory     InstanceStateMemory             `json:"memory" yaml:"memory"`
	Network    map[string]InstanceStateNetwork `json:"network" yaml:"network"`
	Pid        int64                           `json:"pid" yaml:"pid"`
	Processes  int64                           `json:"processes" yaml:"processes"`
	CPU        InstanceStateCPU                `json:"cpu" yaml:"cpu"`
}

// InstanceStateDisk is a disk's usage.
type InstanceStateDisk struct {
	Usage int64 `json:"usage" yaml:"usage"`
	Total int64 `json:"total" yaml:"total"`
}

// InstanceStateCPU is CPU time used, in nanoseconds.
type InstanceStateCPU struct {
	Usage int64 `json:"usage" yaml:"usage"`
}

// InstanceStateMemory is memory use in bytes.
type InstanceStateMemory struct {
	Usage         int64 `json:"usage" yaml:"usage"`
	UsagePeak     int64 `json:"usage_peak" yaml:"usage_peak"`
	Total         int64 `json:"total" yaml:"total"`
	SwapUsage     int64 `json:"swap_usage" yaml:"swap_usage"`
	SwapUsagePeak int64 `json:"swap_usage_peak" yaml:"swap_usage_peak"`
}

// InstanceStateNetwork is one interface inside the instance.
type InstanceStateNetwork struct {
	Addresses []InstanceStateNetworkAddress `json:"addresses" yaml:"addresses"`
	Counters  InstanceStateNetworkCounters  `json:"counters" yaml:"counters"`
	Hwaddr    string                        `json:"hwaddr" yaml:"hwaddr"`
	HostName  string                        `json:"host_name" yaml:"host_name"`
	Mtu       int                           `json:"mtu" yaml:"mtu"`
	State     string                        `json:"state" yaml:"state"`
	Type      string                        `json:"type" yaml:"type"`
}

// InstanceStateNetworkAddress is one address of an interface.
type InstanceStateNetworkAddress struct {
	Family  string `json:"family" yaml:"family"`
	Address string `json:"address" yaml:"address"`
	Netmask string `json:"netmask" yaml:"netmask"`
	Scope   string `json:"scope" yaml:"scope"`
}

// InstanceStateNetworkCounters are an interface's traffic counters.
type InstanceStateNetworkCounters struct {
	BytesReceived   int64 `json:"bytes_received" yaml:"bytes_received"`
	BytesSent       int64 `json:"bytes_sent" yaml:"bytes_sent"`
	PacketsReceived int64 `json:"packets_received" yaml:"packets_received"`
	PacketsSent     int64 `json:"packets_sent" yaml:"packets_sent"`
	ErrorsReceived  int64 `json:"errors_received" yaml:"errors_received"`
	ErrorsSent      int64 `json:"errors_sent" yaml:"errors_sent"`
	// Dropped packets (the network_state extension's later fields).
	PacketsDroppedOutbound int64 `json:"packets_dropped_outbound" yaml:"packets_dropped_outbound"`
	PacketsDroppedInbound  int64 `json:"packets_dropped_inbound" yaml:"packets_dropped_inbound"`
}

// InstanceExecPost is the body of POST /1.0/instances/<name>/exec.
type InstanceExecPost struct {
	Command      []string          `json:"command"`
	WaitForWS    bool              `json:"wait-for-websocket"`
	Interactive  bool              `json:"interactive"`
	Environment  map[string]string `json:"environment"`
	Width        int               `json:"width"`
	Height       int               `json:"height"`
	RecordOutput bool              `json:"record-output"`
	User         uint32            `json:"user"`
	Group        uint32            `json:"group"`
	Cwd          string            `json:"cwd"`
}

// InstanceExecControl is a message on an exec's control websocket.
type InstanceExecControl struct {
	Command string            `json:"command"`
	Args    map[string]string `json:"args"`
	Signal  int               `json:"signal"`
}

// InstanceSnapshot is a snapshot as /1.0/instances/<name>/snapshots/<snap> reports it.
type InstanceSnapshot struct {
	Architecture    string                       `json:"architecture" yaml:"architecture"`
	Config          map[string]string            `json:"config" yaml:"config"`
	CreatedAt       time.Time                    `json:"created_at" yaml:"created_at"`
	Devices         map[string]map[string]string `json:"devices" yaml:"devices"`
	Ephemeral       bool                         `json:"ephemeral" yaml:"ephemeral"`
	ExpandedConfig  map[string]string            `json:"expanded_config" yaml:"expanded_config"`
	ExpandedDevices map[string]map[string]string `json:"expanded_devices" yaml:"expanded_devices"`
	LastUsedAt      time.Time                    `json:"last_used_at" yaml:"last_used_at"`
	Name            string                       `json:"name" yaml:"name"`
	Profiles        []string                     `json:"profiles" yaml:"profiles"`
	Stateful        bool                         `json:"stateful" yaml:"stateful"`
	Size            int64                        `json:"size" yaml:"size"`
	ExpiresAt       time.Time                    `json:"expires_at" yaml:"expires_at"`
	Description     string                       `json:"description" yaml:"description"`
}

// InstanceSnapshotsPost creates a snapshot.
type InstanceSnapshotsPost struct {
	Name      string     `json:"name"`
	Stateful  bool       `json:"stateful"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// InstanceSnapshotPost renames a snapshot.
type InstanceSnapshotPost struct {
	Name      string `json:"name"`
	Migration bool   `json:"migration"`
	Live      bool   `json:"live"`
	// Target, with Migration, pushes the snapshot to another host's
	// operation (push mode).
	Target *InstancePostTarget `json:"target,omitempty"`
}

// InstanceSnapshotPut changes a snapshot's expiry (the rest is immutable).
type InstanceSnapshotPut struct {
	ExpiresAt   time.Time `json:"expires_at"`
	Description string    `json:"description"`
}

// DevLXDGet is GET /1.0 of the guest API (/dev/lxd/sock).
type DevLXDGet struct {
	State        string `json:"state,omitempty" yaml:"state,omitempty"`
	APIVersion   string `json:"api_version" yaml:"api_version"`
	InstanceType string `json:"instance_type" yaml:"instance_type"`
	Location     string `json:"location" yaml:"location"`
}

// InstancesPut is the body of PUT /1.0/instances: a state change for all
// of a project's instances (instance_bulk_state_change).
type InstancesPut struct {
	State *InstanceStatePut `json:"state" yaml:"state"`
}
