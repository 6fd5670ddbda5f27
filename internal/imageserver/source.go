// Package imageserver downloads images from other servers. Each protocol
// (LXD's REST API, OpenLXD, and simplestreams, OpenSimplestreams) is a
// Source opener, listed in a Registry by name (internal/server builds
// it); the image service hashes, checks and unpacks what a Source hands
// over, as it does an upload.
package imageserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
)

// Options say how to reach a server.
type Options struct {
	// Certificate is the PEM certificate the server must present; empty,
	// the system's CAs verify it.
	Certificate string
	// Secret opens a private image of an LXD server (POST …/secret there).
	Secret string
	// ClientCert is offered to the server when set.
	ClientCert *tls.Certificate
	// Project is the project of the server the image is in (LXD's
	// protocol; "" is its default).
	Project string
}

// Found is an image a server has, as it describes it.
type Found struct {
	Fingerprint string
	Image       api.Image
	// Ref is opaque to callers: what Fetch needs to find the files.
	Ref any
}

// Files are an image's files as they download: Unified alone, or Meta
// then Rootfs (read in that order). Close ends the download.
type Files struct {
	Unified, Meta, Rootfs io.Reader
	// Size is the number of bytes to come, 0 when unknown.
	Size  int64
	Close func() error
}

// Source is one server of one protocol.
type Source interface {
	// Find resolves an alias or a fingerprint (or its prefix) to an
	// image; imageType is "container" or "virtual-machine" ("" either).
	Find(ctx context.Context, ref, imageType string) (Found, error)
	// Fetch starts downloading the image's files.
	Fetch(ctx context.Context, f Found) (Files, error)
}

// Opener opens a server of a protocol.
type Opener func(server string, opts Options) (Source, error)

// Registry is the protocols spoken, by name; internal/server lists them.
type Registry map[string]Opener

// Protocols are the names registered.
func (r Registry) Protocols() []string {
	out := make([]string, 0, len(r))
	for name := range r {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Open opens server with the protocol named ("" is LXD's).
func (r Registry) Open(protocol, server string, opts Options) (Source, error) {
	if protocol == "" {
		protocol = "lxd"
	}
	open := r[protocol]
	if open == nil {
		return nil, apierr.BadRequest("image server protocol %q is not supported (%s)", protocol, strings.Join(r.Protocols(), ", "))
	}
	src, err := open(server, opts)
	if err != nil {
		return nil, fmt.Errorf("image server %s: %w", server, err)
	}
	return src, nil
}
