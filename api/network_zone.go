package api

// The network_dns and network_dns_records extensions: DNS zones a host
// serves by zone transfer (AXFR) from the addresses of its networks'
// instances, and records added by hand.

// NetworkZonePut is the writable part of a zone: peers.NAME.address and
// peers.NAME.key (who may transfer it), dns.nameservers, network.nat and
// user.* keys.
type NetworkZonePut struct {
	Description string            `json:"description" yaml:"description"`
	Config      map[string]string `json:"config" yaml:"config"`
}

// NetworkZonesPost creates a zone.
type NetworkZonesPost struct {
	NetworkZonePut `yaml:",inline"`
	Name           string `json:"name" yaml:"name"`
}

// NetworkZone is a zone as /1.0/network-zones/<name> reports it.
type NetworkZone struct {
	NetworkZonePut `yaml:",inline"`
	Name           string   `json:"name" yaml:"name"`
	UsedBy         []string `json:"used_by" yaml:"used_by"`
}

// NetworkZoneRecordEntry is one resource record of a name: its type,
// value and TTL (300 when 0).
type NetworkZoneRecordEntry struct {
	Type  string `json:"type" yaml:"type"`
	TTL   uint64 `json:"ttl,omitempty" yaml:"ttl,omitempty"`
	Value string `json:"value" yaml:"value"`
}

// NetworkZoneRecordPut is the writable part of a record.
type NetworkZoneRecordPut struct {
	Description string                   `json:"description" yaml:"description"`
	Entries     []NetworkZoneRecordEntry `json:"entries" yaml:"entries"`
	Config      map[string]string        `json:"config" yaml:"config"`
}

// NetworkZoneRecordsPost creates a record.
type NetworkZoneRecordsPost struct {
	NetworkZoneRecordPut `yaml:",inline"`
	Name                 string `json:"name" yaml:"name"`
}

// NetworkZoneRecord is a record of a zone.
type NetworkZoneRecord struct {
	NetworkZoneRecordPut `yaml:",inline"`
	Name                 string `json:"name" yaml:"name"`
}
