// Package validate checks user-chosen names before any side effect.
package validate

import (
	"regexp"
	"strings"

	"github.com/lodge-project/lodge/internal/apierr"
)

var hostname = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$`)

// InstanceName checks a name is a valid hostname label, as LXD requires.
func InstanceName(name string) error {
	switch {
	case name == "":
		return apierr.BadRequest("instance name is empty")
	case len(name) > 63:
		return apierr.BadRequest("instance name %q is longer than 63 characters", name)
	case !hostname.MatchString(name):
		return apierr.BadRequest("instance name %q is invalid: use letters, digits and hyphens, not starting or ending with a hyphen", name)
	case name[0] >= '0' && name[0] <= '9':
		return apierr.BadRequest("instance name %q is invalid: it must not start with a digit", name)
	}
	return nil
}

// AliasName checks an image alias name.
func AliasName(name string) error {
	switch {
	case name == "":
		return apierr.BadRequest("alias name is empty")
	case len(name) > 255:
		return apierr.BadRequest("alias name is longer than 255 characters")
	case strings.ContainsAny(name, "/\\:\x00\n") || name == "." || name == "..":
		return apierr.BadRequest("alias name %q is invalid: it must not contain '/', '\\\\' or ':'", name)
	}
	return nil
}

var poolName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// PoolName checks a storage pool name: it names a directory, so no
// slashes, no dot names, nothing a path could make more of.
func PoolName(name string) error {
	switch {
	case name == "":
		return apierr.BadRequest("storage pool name is empty")
	case len(name) > 63:
		return apierr.BadRequest("storage pool name %q is longer than 63 characters", name)
	case !poolName.MatchString(name):
		return apierr.BadRequest("storage pool name %q is invalid: use letters, digits, '-', '_' and '.', starting with a letter or digit", name)
	}
	return nil
}

var projectName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9.-]*$`)

// ProjectName checks a project name. Store keys hold it before a ':' and
// host names before a '_' (package project), so it has neither; nor '/'.
func ProjectName(name string) error {
	switch {
	case name == "":
		return apierr.BadRequest("project name is empty")
	case len(name) > 63:
		return apierr.BadRequest("project name %q is longer than 63 characters", name)
	case strings.Contains(name, "_"):
		return apierr.BadRequest("project name %q is invalid: project names may not contain underscores", name)
	case !projectName.MatchString(name) || name == "." || name == "..":
		return apierr.BadRequest("project name %q is invalid: use letters, digits, '-' and '.', starting with a letter or digit", name)
	}
	return nil
}
