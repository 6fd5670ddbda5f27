// Package uuid makes random (version 4) UUIDs, the form LXD names
// warnings and cloud-init instance ids by.
package uuid

import (
	"crypto/rand"
	"fmt"
)

// New is a random UUID.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
