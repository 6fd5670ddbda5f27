package api

// Server is GET /1.0.
type Server struct {
	APIExtensions []string          `json:"api_extensions" yaml:"api_extensions"`
	APIStatus     string            `json:"api_status" yaml:"api_status"`
	APIVersion    string            `json:"api_version" yaml:"api_version"`
	Auth          string            `json:"auth" yaml:"auth"`
	AuthMethods   []string          `json:"auth_methods" yaml:"auth_methods"`
	Public        bool              `json:"public" yaml:"public"`
	Config        map[string]any    `json:"config" yaml:"config"`
	Environment   ServerEnvironment `json:"environment" yaml:"environment"`
}

// ServerEnvironment describes the host lodged runs on.
type ServerEnvironment struct {
	Addresses              []string          `json:"addresses" yaml:"addresses"`
	Architectures          []string          `json:"architectures" yaml:"architectures"`
	Certificate            string            `json:"certificate" yaml:"certificate"`
	CertificateFingerprint string            `json:"certificate_fingerprint" yaml:"certificate_fingerprint"`
	Driver                 string            `json:"driver" yaml:"driver"`
	DriverVersion          string            `json:"driver_version" yaml:"driver_version"`
	Firewall               string            `json:"firewall" yaml:"firewall"`
	Kernel                 string            `json:"kernel" yaml:"kernel"`
	KernelArchitecture     string            `json:"kernel_architecture" yaml:"kernel_architecture"`
	KernelFeatures         map[string]string `json:"kernel_features" yaml:"kernel_features"`
	KernelVersion          string            `json:"kernel_version" yaml:"kernel_version"`
	OSName                 string            `json:"os_name" yaml:"os_name"`
	OSVersion              string            `json:"os_version" yaml:"os_version"`
	Project                string            `json:"project" yaml:"project"`
	Server                 string            `json:"server" yaml:"server"`
	ServerClustered        bool              `json:"server_clustered" yaml:"server_clustered"`
	ServerName             string            `json:"server_name" yaml:"server_name"`
	ServerPid              int               `json:"server_pid" yaml:"server_pid"`
	ServerVersion          string            `json:"server_version" yaml:"server_version"`
	Storage                string            `json:"storage" yaml:"storage"`
	StorageVersion         string            `json:"storage_version" yaml:"storage_version"`
}
