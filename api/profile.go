package api

// Profile is a named set of config and devices instances apply in order.
type Profile struct {
	Name        string                       `json:"name" yaml:"name"`
	Description string                       `json:"description" yaml:"description"`
	Config      map[string]string            `json:"config" yaml:"config"`
	Devices     map[string]map[string]string `json:"devices" yaml:"devices"`
	UsedBy      []string                     `json:"used_by" yaml:"used_by"`
}

// ProfilePut is the writable part of a profile.
type ProfilePut struct {
	Description string                       `json:"description" yaml:"description"`
	Config      map[string]string            `json:"config" yaml:"config"`
	Devices     map[string]map[string]string `json:"devices" yaml:"devices"`
}

// ProfilesPost creates a profile.
type ProfilesPost struct {
	ProfilePut
	Name string `json:"name"`
}
