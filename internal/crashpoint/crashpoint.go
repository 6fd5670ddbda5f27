// Package crashpoint lets the crash tests stop lodged at a named point of a
// multi-step change, to kill it exactly there: with LODGE_CRASHPOINT=NAME in
// lodged's environment, Hit(NAME) logs "crashpoint NAME reached" on stderr
// and blocks for good. Unset (always, outside those tests), Hit is one
// string comparison.
package crashpoint

import (
	"fmt"
	"os"
)

var armed = os.Getenv("LODGE_CRASHPOINT")

// Hit blocks forever when name is the armed crash point.
func Hit(name string) {
	if armed == "" || armed != name {
		return
	}
	fmt.Fprintf(os.Stderr, "crashpoint %s reached\n", name)
	select {}
}
