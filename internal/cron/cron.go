// Package cron parses the five-field cron expressions (and @hourly-style
// aliases) that snapshots.schedule takes, and finds their next firing time.
package cron

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is a parsed cron expression: the allowed values of each field.
type Schedule struct {
	minute, hour, dom, month, dow [64]bool
	domStar, dowStar              bool
}

var aliases = map[string]string{
	"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
	"@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}

var monthNames = map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}
var dayNames = map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}

// Parse reads "MIN HOUR DOM MON DOW" or an alias such as @daily.
func Parse(spec string) (*Schedule, error) {
	spec = strings.TrimSpace(spec)
	if a, ok := aliases[strings.ToLower(spec)]; ok {
		spec = a
	}
	fields := strings.Fields(spec)
	if len(fields) != 5 {
		return nil, fmt.Errorf("cron expression %q: want 5 fields (minute hour day-of-month month day-of-week) or @hourly/@daily/@weekly/@monthly/@yearly", spec)
	}
	s := &Schedule{domStar: fields[2] == "*", dowStar: fields[4] == "*"}
	specs := []struct {
		name     string
		set      *[64]bool
		min, max int
		names    map[string]int
	}{
		{"minute", &s.minute, 0, 59, nil}, {"hour", &s.hour, 0, 23, nil}, {"day of month", &s.dom, 1, 31, nil},
		{"month", &s.month, 1, 12, monthNames}, {"day of week", &s.dow, 0, 7, dayNames},
	}
	for i, f := range specs {
		if err := parseField(fields[i], f.set, f.min, f.max, f.names); err != nil {
			return nil, fmt.Errorf("cron expression %q: %s: %w", spec, f.name, err)
		}
	}
	if s.dow[7] {
		s.dow[0] = true // 7 is Sunday too
	}
	return s, nil
}

func parseField(field string, set *[64]bool, lo, hi int, names map[string]int) error {
	for _, part := range strings.Split(field, ",") {
		rng, stepStr, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n <= 0 {
				return fmt.Errorf("bad step %q", stepStr)
			}
			step = n
		}
		start, end := lo, hi
		if rng != "*" {
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if start, err = value(a, names); err != nil {
				return err
			}
			end = start
			if isRange {
				if end, err = value(b, names); err != nil {
					return err
				}
			} else if hasStep {
				end = hi
			}
		}
		if start < lo || end > hi || start > end {
			return fmt.Errorf("%q is outside %d-%d", part, lo, hi)
		}
		for v := start; v <= end; v += step {
			set[v] = true
		}
	}
	return nil
}

func value(s string, names map[string]int) (int, error) {
	if n, ok := names[strings.ToLower(s)]; ok {
		return n, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return n, nil
}

// Next returns the first minute strictly after t that the schedule matches.
func (s *Schedule) Next(t time.Time) time.Time {
	t = t.Truncate(time.Minute).Add(time.Minute)
	limit := t.AddDate(5, 0, 0)
	for t.Before(limit) {
		if !s.month[int(t.Month())] {
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, t.Location())
			continue
		}
		if !s.dayMatches(t) {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, t.Location())
			continue
		}
		if !s.hour[t.Hour()] {
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, t.Location())
			continue
		}
		if !s.minute[t.Minute()] {
			t = t.Add(time.Minute)
			continue
		}
		return t
	}
	return time.Time{}
}

// dayMatches follows cron: when both day fields are restricted, either matches.
func (s *Schedule) dayMatches(t time.Time) bool {
	dom, dow := s.dom[t.Day()], s.dow[int(t.Weekday())]
	switch {
	case s.domStar && s.dowStar:
		return true
	case s.domStar:
		return dow
	case s.dowStar:
		return dom
	}
	return dom || dow
}

// Triggers is a whole snapshots.schedule value, as LXD reads it: cron
// expressions and aliases separated by ", " (a bare comma belongs to a cron
// field), where @startup also fires when the instance starts and @never
// never fires.
type Triggers struct {
	schedules []*Schedule
	// OnStartup is set by @startup.
	OnStartup bool
}

// ParseTriggers reads a snapshots.schedule value.
func ParseTriggers(spec string) (*Triggers, error) {
	t := &Triggers{}
	for _, part := range strings.Split(strings.ToLower(strings.TrimSpace(spec)), ", ") {
		switch part = strings.TrimSpace(part); part {
		case "@startup":
			t.OnStartup = true
		case "@never", "":
		default:
			s, err := Parse(part)
			if err != nil {
				return nil, fmt.Errorf("%w (or @startup, @never; several separated by \", \")", err)
			}
			t.schedules = append(t.schedules, s)
		}
	}
	return t, nil
}

// Next returns the earliest firing of any schedule strictly after t, or the
// zero time when none fires.
func (t *Triggers) Next(after time.Time) time.Time {
	var next time.Time
	for _, s := range t.schedules {
		if n := s.Next(after); !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	return next
}
