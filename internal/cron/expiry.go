package cron

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseExpiry reads snapshots.expiry: "1M 2H 3d 4w 5m 6y" (minutes, hours,
// days, weeks, months, years), as LXD spells it.
func ParseExpiry(v string) (time.Duration, error) {
	var total time.Duration
	fields := strings.Fields(v)
	if len(fields) == 0 {
		return 0, fmt.Errorf("%q is empty", v)
	}
	for _, f := range fields {
		if len(f) < 2 {
			return 0, fmt.Errorf("%q: use numbers with M, H, d, w, m or y (1M = a minute, 2w = two weeks)", v)
		}
		n, err := strconv.Atoi(f[:len(f)-1])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q: use numbers with M, H, d, w, m or y (1M = a minute, 2w = two weeks)", v)
		}
		unit := map[byte]time.Duration{'M': time.Minute, 'H': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour,
			'm': 30 * 24 * time.Hour, 'y': 365 * 24 * time.Hour}[f[len(f)-1]]
		if unit == 0 {
			return 0, fmt.Errorf("%q: unknown unit %q (use M, H, d, w, m or y)", v, f[len(f)-1:])
		}
		total += time.Duration(n) * unit
	}
	return total, nil
}
