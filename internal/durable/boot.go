package durable

import (
	"os"
	"strings"
)

// BootID names the host's present boot. Data written in an earlier boot
// and never synced may not have survived to this one: a host crash loses
// the page cache, a daemon's crash does not. LODGE_BOOT_ID stands in for
// it in the tests that play a host crash.
func BootID() (string, error) {
	if id := os.Getenv("LODGE_BOOT_ID"); id != "" {
		return id, nil
	}
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
