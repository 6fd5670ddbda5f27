package api

// The network_forward extension: an address (and ports on it) forwarded
// to addresses on a managed network, as LXD's network forwards.

// NetworkForwardPort forwards ports of a forward's listen address to a
// target: ListenPort and TargetPort are lists of ports and ranges
// ("80,8080-8090"); no TargetPort keeps the ports, one maps all to it, and
// as many as ListenPort maps them in order.
type NetworkForwardPort struct {
	Description   string `json:"description" yaml:"description"`
	Protocol      string `json:"protocol" yaml:"protocol"`
	ListenPort    string `json:"listen_port" yaml:"listen_port"`
	TargetPort    string `json:"target_port" yaml:"target_port"`
	TargetAddress string `json:"target_address" yaml:"target_address"`
}

// NetworkForwardPut is the writable part of a forward. Config holds
// target_address (where traffic no port matches goes) and user.* keys.
type NetworkForwardPut struct {
	Description string               `json:"description" yaml:"description"`
	Config      map[string]string    `json:"config" yaml:"config"`
	Ports       []NetworkForwardPort `json:"ports" yaml:"ports"`
}

// NetworkForwardsPost creates a forward.
type NetworkForwardsPost struct {
	NetworkForwardPut `yaml:",inline"`
	ListenAddress     string `json:"listen_address" yaml:"listen_address"`
}

// NetworkForward is a forward as /1.0/networks/<name>/forwards/<address>
// reports it.
type NetworkForward struct {
	NetworkForwardPut `yaml:",inline"`
	ListenAddress     string `json:"listen_address" yaml:"listen_address"`
	Location          string `json:"location" yaml:"location"`
}
