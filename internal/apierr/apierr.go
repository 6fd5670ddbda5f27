// Package apierr holds the sentinel errors that domain packages wrap and the
// one place where they become HTTP status codes.
package apierr

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinels. Wrap them with context: fmt.Errorf("instance %q: %w", n, ErrNotFound).
var (
	ErrNotFound           = errors.New("not found")
	ErrConflict           = errors.New("already exists")
	ErrBadRequest         = errors.New("bad request")
	ErrPreconditionFailed = errors.New("precondition failed")
	ErrTooLarge           = errors.New("request too large")
	ErrBusy               = errors.New("busy")
	ErrNotImplemented     = errors.New("not implemented")
	// ErrForbidden is LXD's answer to an untrusted client: "not authorized".
	ErrForbidden = errors.New("not authorized")
)

// BadRequest builds a 400 error with a message that says what to fix.
func BadRequest(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrBadRequest)
}

// NotFound builds a 404 error.
func NotFound(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrNotFound)
}

// Conflict builds a 409 error.
func Conflict(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrConflict)
}

// Status maps an error to its HTTP status code.
func Status(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrConflict), errors.Is(err, ErrBusy):
		return http.StatusConflict
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrPreconditionFailed):
		return http.StatusPreconditionFailed
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrNotImplemented):
		return http.StatusNotImplemented
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}
