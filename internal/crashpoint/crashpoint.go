// Package crashpoint lets the crash and race tests stop lodged at a named
// point of a multi-step change. With LODGE_CRASHPOINT=NAME in lodged's
// environment, Hit(NAME) logs "crashpoint NAME reached" on stderr and
// blocks for good, for the test to kill lodged there. With
// LODGE_PAUSEPOINT=NAME and LODGE_PAUSEFILE=PATH, Hit(NAME) logs
// "pausepoint NAME reached" and, the first time only, waits while PATH
// exists, so the test can make another request (which passes the same
// point) land in the middle of the change. Unset (always,
// outside those tests), Hit is two string comparisons.
package crashpoint

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

var (
	paused    atomic.Bool
	crash     = os.Getenv("LODGE_CRASHPOINT")
	pause     = os.Getenv("LODGE_PAUSEPOINT")
	pauseFile = os.Getenv("LODGE_PAUSEFILE")
)

// Hit blocks when name is the armed crash or pause point.
func Hit(name string) {
	switch {
	case crash != "" && crash == name:
		fmt.Fprintf(os.Stderr, "crashpoint %s reached\n", name)
		select {}
	case pause != "" && pause == name && paused.CompareAndSwap(false, true):
		fmt.Fprintf(os.Stderr, "pausepoint %s reached\n", name)
		for {
			if _, err := os.Stat(pauseFile); err != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
