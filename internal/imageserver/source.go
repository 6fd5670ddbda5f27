// Package imageserver downloads images from other servers. Each protocol
// (LXD's REST API "lxd", and "simplestreams") is a Source opener in a
// registry keyed by its name; the image service hashes, checks and
// unpacks what a Source hands over, as it does an upload.
package imageserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

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

var (
	mu        sync.Mutex
	protocols = map[string]Opener{}
)

// Register adds a protocol.
func Register(name string, open Opener) {
	mu.Lock()
	defer mu.Unlock()
	protocols[name] = open
}

// Protocols are the names registered.
func Protocols() []string {
	mu.Lock()
	defer mu.Unlock()
	out := make([]string, 0, len(protocols))
	for name := range protocols {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Open opens server with the protocol named ("" is LXD's).
func Open(protocol, server string, opts Options) (Source, error) {
	if protocol == "" {
		protocol = "lxd"
	}
	mu.Lock()
	open := protocols[protocol]
	mu.Unlock()
	if open == nil {
		return nil, apierr.BadRequest("image server protocol %q is not supported (%s)", protocol, strings.Join(Protocols(), ", "))
	}
	src, err := open(server, opts)
	if err != nil {
		return nil, fmt.Errorf("image server %s: %w", server, err)
	}
	return src, nil
}
