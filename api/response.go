// Package api holds the wire types of Lodge's REST API, which follows LXD's
// API 1.0 shapes so that LXD's clients work against Lodge unchanged.
package api

import "encoding/json"

// ResponseType is the "type" field of every response envelope.
type ResponseType string

// The three kinds of response envelope.
const (
	SyncResponse  ResponseType = "sync"
	AsyncResponse ResponseType = "async"
	ErrorResponse ResponseType = "error"
)

// Response is the envelope every endpoint answers with.
type Response struct {
	Type       ResponseType    `json:"type"`
	Status     string          `json:"status"`
	StatusCode int             `json:"status_code"`
	Operation  string          `json:"operation"`
	ErrorCode  int             `json:"error_code"`
	Error      string          `json:"error"`
	Metadata   json.RawMessage `json:"metadata"`
}

// Status codes used in envelopes, operations and instance states.
const (
	OperationCreated = 100
	Started          = 101
	Stopped          = 102
	Running          = 103
	Cancelling       = 104
	Pending          = 105
	Starting         = 106
	Stopping         = 107
	Aborting         = 108
	Freezing         = 109
	Frozen           = 110
	Thawed           = 111
	Error            = 112
	Success          = 200
	Failure          = 400
	Cancelled        = 401
)

// StatusText names a status code the way LXD spells it.
func StatusText(code int) string {
	return map[int]string{
		OperationCreated: "Operation created", Started: "Started", Stopped: "Stopped",
		Running: "Running", Cancelling: "Cancelling", Pending: "Pending", Starting: "Starting",
		Stopping: "Stopping", Aborting: "Aborting", Freezing: "Freezing", Frozen: "Frozen",
		Thawed: "Thawed", Error: "Error", Success: "Success", Failure: "Failure", Cancelled: "Cancelled",
	}[code]
}
