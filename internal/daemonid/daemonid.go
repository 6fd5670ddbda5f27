// Package daemonid tells apart what two lodged daemons on one host (other
// state directories) make in places the host shares: cgroups, nftables
// tables, host interface names.
package daemonid

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
)

// DefaultDir is lodged's state directory unless told otherwise.
const DefaultDir = "/var/lib/lodge"

// Of is "" for the daemon on DefaultDir, whose names stay as they always
// were, and 8 hex digits of the directory's sha256 for any other.
func Of(stateDir string) string {
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		abs = stateDir
	}
	if abs == DefaultDir {
		return ""
	}
	sum := sha256.Sum256([]byte(abs))
	return hex.EncodeToString(sum[:4])
}

// Name is base for the default daemon and base+sep+id for any other.
func Name(id, base, sep string) string {
	if id == "" {
		return base
	}
	return base + sep + id
}
