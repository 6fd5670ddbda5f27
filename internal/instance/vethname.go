package instance

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/lodge-project/lodge/internal/daemonid"
)

// vethName names the host end after the instance: up to 10 characters
// of its name, a dash and a short hash of instance and device, so names
// are stable, readable and fit in 15 bytes.
func vethName(daemon, instance, device string) string {
	// The default daemon's names stay as they were; another daemon's
	// hash takes its id in, so two daemons' instances of one name differ.
	sum := sha256.Sum256([]byte(daemonid.Name(daemon, "", "/") + instance + "/" + device))
	short := instance
	if len(short) > 10 {
		short = short[:10]
	}
	return short + "-" + hex.EncodeToString(sum[:2])
}
