package api

import "time"

// Operation is a background task as /1.0/operations reports it.
type Operation struct {
	ID          string              `json:"id" yaml:"id"`
	Class       string              `json:"class" yaml:"class"`
	Description string              `json:"description" yaml:"description"`
	CreatedAt   time.Time           `json:"created_at" yaml:"created_at"`
	UpdatedAt   time.Time           `json:"updated_at" yaml:"updated_at"`
	Status      string              `json:"status" yaml:"status"`
	StatusCode  int                 `json:"status_code" yaml:"status_code"`
	Resources   map[string][]string `json:"resources" yaml:"resources"`
	Metadata    map[string]any      `json:"metadata" yaml:"metadata"`
	MayCancel   bool                `json:"may_cancel" yaml:"may_cancel"`
	Err         string              `json:"err" yaml:"err"`
	Location    string              `json:"location" yaml:"location"`
}

// Event is one message on /1.0/events.
type Event struct {
	Type      string    `json:"type" yaml:"type"`
	Timestamp time.Time `json:"timestamp" yaml:"timestamp"`
	Metadata  any       `json:"metadata" yaml:"metadata"`
	Location  string    `json:"location,omitempty" yaml:"location,omitempty"`
	Project   string    `json:"project,omitempty" yaml:"project,omitempty"`
}

// EventLifecycle is the metadata of a lifecycle event.
type EventLifecycle struct {
	Action  string         `json:"action" yaml:"action"`
	Source  string         `json:"source" yaml:"source"`
	Context map[string]any `json:"context,omitempty" yaml:"context,omitempty"`
}

// EventLogging is the metadata of a logging event.
type EventLogging struct {
	Message string            `json:"message" yaml:"message"`
	Level   string            `json:"level" yaml:"level"`
	Context map[string]string `json:"context" yaml:"context"`
}
