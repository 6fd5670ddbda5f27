package daemon

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/operation"
)

// A client whose certificate is restricted to projects reaches its
// projects' objects and reads what every project shares; nothing else:
// no server config, trust store, projects' settings, pools or shared
// networks to change (a project's own networks are its own).

// restrictedReadable are the shared routes a restricted client may read.
var restrictedReadable = map[string]bool{
	"GET /": true, "GET /1.0": true,
	// A websocket's secret is its key, and its operation is the client's.
	"GET /1.0/operations/{id}/websocket": true, "GET /1.0/resources": true, "GET /1.0/projects": true,
	"GET /1.0/storage-pools": true, "GET /1.0/storage-pools/{name}": true, "GET /1.0/storage-pools/{name}/resources": true,
	"GET /1.0/networks": true, "GET /1.0/networks/{name}": true, "GET /1.0/networks/{name}/state": true,
}

// projectScoped are the path prefixes of routes that act in the request's
// project (?project=).
var projectScoped = []string{"/1.0/instances", "/1.0/containers", "/1.0/images", "/1.0/profiles", "/1.0/operations", "/1.0/events", "/1.0/metrics"}

// restrictedMay says whether a client restricted to projects may make a
// request that matched pattern. ownNetworks: the request's project has
// networks of its own (features.networks), which are then its to change.
func restrictedMay(pattern string, r *http.Request, projects []string, ownNetworks bool) bool {
	if restrictedReadable[pattern] {
		return true
	}
	if r.URL.Query().Get("all-projects") == "true" {
		return false
	}
	method, path, _ := strings.Cut(pattern, " ")
	if rest, ok := strings.CutPrefix(r.URL.Path, "/1.0/projects/"); ok && method == http.MethodGet {
		name, _, _ := strings.Cut(rest, "/")
		return slices.Contains(projects, name)
	}
	scoped := strings.HasPrefix(path, "/1.0/storage-pools/{pool}/volumes") ||
		(ownNetworks && (path == "/1.0/networks" || strings.HasPrefix(path, "/1.0/networks/") ||
			path == "/1.0/network-acls" || strings.HasPrefix(path, "/1.0/network-acls/") ||
			path == "/1.0/network-zones" || strings.HasPrefix(path, "/1.0/network-zones/")))
	for _, p := range projectScoped {
		scoped = scoped || path == p || strings.HasPrefix(path, p+"/")
	}
	return scoped && slices.Contains(projects, requestProject(r))
}

type restrictKey struct{}

// restrictedTo is the projects the request's client is restricted to
// (nil: unrestricted).
func restrictedTo(r *http.Request) []string {
	p, _ := r.Context().Value(restrictKey{}).([]string)
	return p
}

// opVisible refuses an operation of a project a restricted client is not
// in (its id is all it would need to watch or cancel it).
func opVisible(r *http.Request, op *operation.Op) error {
	if p := restrictedTo(r); p != nil && !slices.Contains(p, op.Project()) {
		return apierr.NotFound("operation")
	}
	return nil
}

// mayReach refuses a project other than the request's that a restricted
// client is not in: a copy's source project (source.project) is read as
// surely as the request's own.
func mayReach(r *http.Request, proj string) error {
	if p := restrictedTo(r); p != nil && proj != "" && !slices.Contains(p, proj) {
		return fmt.Errorf("project %q is outside what this certificate may reach: %w", proj, apierr.ErrForbidden)
	}
	return nil
}
