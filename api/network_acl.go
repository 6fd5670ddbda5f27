package api

// The network_acl and network_bridge_acl extensions: named rule lists
// that filter what enters and leaves a managed bridge (security.acls).

// NetworkACLRule is one rule. Source and Destination are comma lists of
// addresses, CIDRs and ranges (a-b), empty for any; ports are comma lists
// of ports and ranges, for tcp and udp.
type NetworkACLRule struct {
	Action          string `json:"action" yaml:"action"`
	Source          string `json:"source" yaml:"source"`
	Destination     string `json:"destination" yaml:"destination"`
	Protocol        string `json:"protocol" yaml:"protocol"`
	SourcePort      string `json:"source_port" yaml:"source_port"`
	DestinationPort string `json:"destination_port" yaml:"destination_port"`
	ICMPType        string `json:"icmp_type" yaml:"icmp_type"`
	ICMPCode        string `json:"icmp_code" yaml:"icmp_code"`
	Description     string `json:"description" yaml:"description"`
	State           string `json:"state" yaml:"state"`
}

// NetworkACLPut is the writable part of an ACL.
type NetworkACLPut struct {
	Description string            `json:"description" yaml:"description"`
	Egress      []NetworkACLRule  `json:"egress" yaml:"egress"`
	Ingress     []NetworkACLRule  `json:"ingress" yaml:"ingress"`
	Config      map[string]string `json:"config" yaml:"config"`
}

// NetworkACLPost renames an ACL.
type NetworkACLPost struct {
	Name string `json:"name" yaml:"name"`
}

// NetworkACLsPost creates an ACL.
type NetworkACLsPost struct {
	NetworkACLPost `yaml:",inline"`
	NetworkACLPut  `yaml:",inline"`
}

// NetworkACL is an ACL as /1.0/network-acls/<name> reports it.
type NetworkACL struct {
	NetworkACLPost `yaml:",inline"`
	NetworkACLPut  `yaml:",inline"`
	UsedBy         []string `json:"used_by" yaml:"used_by"`
}
