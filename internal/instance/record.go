// Package instance is the instance model: records, config and devices,
// profile expansion, and the service that creates, runs and changes
// instances through a runtime driver.
package instance

import (
	"maps"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/project"
)

// Record is an instance as the store keeps it.
type Record struct {
	Name string `json:"name"`
	// Project is the instance's project ("" in records from before
	// projects: the default one).
	Project      string                       `json:"project,omitempty"`
	Type         string                       `json:"type"`
	Architecture string                       `json:"architecture"`
	Description  string                       `json:"description"`
	Config       map[string]string            `json:"config"`
	Devices      map[string]map[string]string `json:"devices"`
	Profiles     []string                     `json:"profiles"`
	Ephemeral    bool                         `json:"ephemeral"`
	Stateful     bool                         `json:"stateful"`
	CreatedAt    time.Time                    `json:"created_at"`
	LastUsedAt   time.Time                    `json:"last_used_at"`
	// IDMap is the host range the rootfs is shifted to; nil when privileged.
	IDMap *idmap.Map `json:"idmap"`
}

// Expanded is a record with its profiles applied.
type Expanded struct {
	Record
	Config  map[string]string
	Devices map[string]map[string]string
}

// expand applies profiles in order, then the instance's own config and
// devices, which win.
func expand(r Record, profiles []api.Profile) Expanded {
	e := Expanded{Record: r, Config: map[string]string{}, Devices: map[string]map[string]string{}}
	for _, p := range profiles {
		for k, v := range p.Config {
			e.Config[k] = v
		}
		for k, v := range p.Devices {
			e.Devices[k] = maps.Clone(v) // profiles' own maps stay theirs
		}
	}
	for k, v := range r.Config {
		e.Config[k] = v
	}
	for k, v := range r.Devices {
		e.Devices[k] = v
	}
	return e
}

// render is the wire form of an instance.
func render(e Expanded, status string) api.Instance {
	code := map[string]int{"Running": api.Running, "Stopped": api.Stopped, "Frozen": api.Frozen}[status]
	return api.Instance{
		Architecture: e.Architecture, Config: nonNil(e.Record.Config), Devices: nonNilDevices(e.Record.Devices),
		Ephemeral: e.Ephemeral, Profiles: e.Profiles, Stateful: e.Stateful, Description: e.Description,
		CreatedAt: e.CreatedAt, ExpandedConfig: e.Config, ExpandedDevices: e.Devices, Name: e.Name,
		Status: status, StatusCode: code, LastUsedAt: e.LastUsedAt, Location: "none", Type: e.Type, Project: project.Name(e.Project),
	}
}

// withIDMapKeys is a copy of cfg with the volatile keys LXD shows for
// the ids an instance's files are on, and will be on when it starts
// (ids, in LXD's JSON): lxc copy --refresh writes the source's config
// (a GET of the one instance) onto the target, and LXD refuses an update
// that drops them. Lodge ignores them in updates, as all volatile keys.
// Lists leave them out: they would cost every row.
func withIDMapKeys(cfg map[string]string, ids string) map[string]string {
	out := make(map[string]string, len(cfg)+3)
	for k, v := range cfg {
		out[k] = v
	}
	for _, k := range []string{"volatile.idmap.current", "volatile.idmap.next", "volatile.last_state.idmap"} {
		out[k] = ids
	}
	return out
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func nonNilDevices(m map[string]map[string]string) map[string]map[string]string {
	if m == nil {
		return map[string]map[string]string{}
	}
	return m
}
