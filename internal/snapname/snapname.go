// Package snapname expands snapshots.pattern, for instances and custom
// volumes alike: %d is the lowest number not taken, and
// {{ creation_date|date:"2006-01-02" }} the creation date in a Go layout.
package snapname

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

var dateTemplate = regexp.MustCompile(`\{\{\s*creation_date\s*\|\s*date:\s*["']([^"']*)["']\s*\}\}`)

// Next is the name pattern gives a snapshot made at now ("snap%d" when
// empty), given which names are taken.
func Next(pattern string, now time.Time, taken func(string) bool) string {
	if pattern == "" {
		pattern = "snap%d"
	}
	pattern = dateTemplate.ReplaceAllStringFunc(pattern, func(m string) string {
		return now.Format(dateTemplate.FindStringSubmatch(m)[1])
	})
	if !strings.Contains(pattern, "%d") {
		return pattern
	}
	for i := 0; ; i++ {
		if candidate := strings.Replace(pattern, "%d", strconv.Itoa(i), 1); !taken(candidate) {
			return candidate
		}
	}
}
