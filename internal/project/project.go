// Package project says how an object's {project, name} becomes the names
// the rest of the system keys it by: store keys, host names (volumes, log
// and device folders, cgroups, veths) and API paths in events. The default
// project's objects keep their bare names everywhere, so state written
// before projects, and LXD's own layout, need no migration; another
// project's get names no default object can have.
package project

import (
	"net/url"
	"strings"
)

// Default is the project every object is in until projects come.
const Default = "default"

// Name is p, or Default when p is empty (a record from before projects).
func Name(p string) string {
	if p == "" {
		return Default
	}
	return p
}

// StoreKey is a record's key: the bare name in the default project,
// "<project>:<name>" in another. No instance, profile, network or alias
// name holds a ':', so keys of two projects never meet, and a prefix scan
// of one instance's snapshots ("<key>/") never reaches another's.
func StoreKey(p, name string) string {
	if Name(p) == Default {
		return name
	}
	return p + ":" + name
}

// HostName names what the host holds for an object: the bare name in the
// default project, "<project>_<name>" in another, as LXD names them (no
// instance name holds a '_').
func HostName(p, name string) string {
	if Name(p) == Default {
		return name
	}
	return p + "_" + name
}

// URL is an API path as events and used_by lists give it: with
// "?project=<project>" outside the default project, as LXD writes it.
func URL(p, path string) string {
	if Name(p) == Default {
		return path
	}
	return path + "?project=" + url.QueryEscape(p)
}

// SplitKey is the project and name of a store key.
func SplitKey(key string) (p, name string) {
	if p, name, ok := strings.Cut(key, ":"); ok {
		return p, name
	}
	return Default, key
}

// HostOfKey is the host name of the object whose store key is key.
func HostOfKey(key string) string { return HostName(SplitKey(key)) }

// KeyOfHost is the store key of the object whose host name is host (no
// project name holds a '_', and no instance name does either).
func KeyOfHost(host string) string {
	if p, name, ok := strings.Cut(host, "_"); ok {
		return StoreKey(p, name)
	}
	return host
}

// InProject says whether store key key is of an object of project p.
func InProject(key, p string) bool {
	kp, _ := SplitKey(key)
	return kp == Name(p)
}
