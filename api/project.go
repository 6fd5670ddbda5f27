package api

// Project is GET /1.0/projects/NAME.
type Project struct {
	ProjectPut `yaml:",inline"`
	Name       string   `json:"name" yaml:"name"`
	UsedBy     []string `json:"used_by" yaml:"used_by"`
}

// ProjectPut is what PUT and PATCH change of a project.
type ProjectPut struct {
	Config      map[string]string `json:"config" yaml:"config"`
	Description string            `json:"description" yaml:"description"`
}

// ProjectsPost creates a project.
type ProjectsPost struct {
	ProjectPut `yaml:",inline"`
	Name       string `json:"name" yaml:"name"`
}

// ProjectPost renames a project.
type ProjectPost struct {
	Name string `json:"name" yaml:"name"`
}

// ProjectState is GET /1.0/projects/NAME/state: each limited resource's
// limit and usage (-1: no limit).
type ProjectState struct {
	Resources map[string]ProjectStateResource `json:"resources" yaml:"resources"`
}

// ProjectStateResource is one resource of a project's state (LXD sends
// these two fields with Go's default names).
type ProjectStateResource struct {
	Limit int64
	Usage int64
}
