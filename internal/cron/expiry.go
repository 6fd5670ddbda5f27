package cron

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// expiryUnits are the units of an expiry, as LXD spells them.
var expiryUnits = map[byte]time.Duration{'S': time.Second, 'M': time.Minute, 'H': time.Hour, 'd': 24 * time.Hour,
	'w': 7 * 24 * time.Hour, 'm': 30 * 24 * time.Hour, 'y': 365 * 24 * time.Hour}

const expiryHelp = "use numbers with S, M, H, d, w, m or y, each unit once (30S = half a minute, 1M = a minute, 2w = two weeks)"

// ParseExpiry reads an expiry (snapshots.expiry, core.remote_token_expiry):
// "1S 2M 3H 4d 5w 6m 7y" (seconds, minutes, hours, days, weeks, months,
// years), each unit at most once, as LXD takes it.
func ParseExpiry(v string) (time.Duration, error) {
	var total time.Duration
	fields := strings.Fields(v)
	if len(fields) == 0 {
		return 0, fmt.Errorf("%q is empty", v)
	}
	seen := map[byte]bool{}
	for _, f := range fields {
		if len(f) < 2 {
			return 0, fmt.Errorf("%q: %s", v, expiryHelp)
		}
		n, err := strconv.Atoi(f[:len(f)-1])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q: %s", v, expiryHelp)
		}
		u := f[len(f)-1]
		unit := expiryUnits[u]
		if unit == 0 {
			return 0, fmt.Errorf("%q: unknown unit %q (%s)", v, f[len(f)-1:], expiryHelp)
		}
		if seen[u] {
			return 0, fmt.Errorf("%q: the unit %q comes twice (%s)", v, f[len(f)-1:], expiryHelp)
		}
		seen[u] = true
		total += time.Duration(n) * unit
	}
	return total, nil
}
