package cron

import (
	"testing"
	"time"
)

func TestNext(t *testing.T) {
	base := time.Date(2026, 11, 26, 10, 17, 30, 0, time.UTC) // a Thursday
	cases := map[string]time.Time{
		"* * * * *":        time.Date(2026, 11, 26, 10, 18, 0, 0, time.UTC),
		"@hourly":          time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC),
		"@daily":           time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC),
		"*/15 * * * *":     time.Date(2026, 11, 26, 10, 30, 0, 0, time.UTC),
		"0 9 * * mon":      time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC),
		"30 2 1 jan *":     time.Date(2027, 1, 1, 2, 30, 0, 0, time.UTC),
		"0 0 29 2 *":       time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC),
		"5,10 10-11 * * *": time.Date(2026, 11, 26, 11, 5, 0, 0, time.UTC),
	}
	for spec, want := range cases {
		s, err := Parse(spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if got := s.Next(base); !got.Equal(want) {
			t.Errorf("%s: next %s, want %s", spec, got, want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{"", "* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "*/0 * * * *", "a b c d e", "@sometimes", "5-1 * * * *"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestTriggers(t *testing.T) {
	from := time.Date(2026, 3, 1, 10, 30, 0, 0, time.UTC)
	tr, err := ParseTriggers("@startup, @daily, 0 12 * * *")
	if err != nil {
		t.Fatal(err)
	}
	if !tr.OnStartup {
		t.Error("@startup not seen")
	}
	if got, want := tr.Next(from), time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("next of @daily and noon after 10:30: %v, want %v", got, want)
	}
	never, err := ParseTriggers("@never")
	if err != nil || !never.Next(from).IsZero() || never.OnStartup {
		t.Errorf("@never: %v %v %v", err, never.Next(from), never.OnStartup)
	}
	// A bare comma is part of a cron field, not a separator.
	if tr, err := ParseTriggers("0 6,18 * * *"); err != nil || !tr.Next(from).Equal(time.Date(2026, 3, 1, 18, 0, 0, 0, time.UTC)) {
		t.Errorf("0 6,18 * * *: %v", err)
	}
	for _, bad := range []string{"@sometimes", "@daily, 1 2 3", "@daily,@hourly"} {
		if _, err := ParseTriggers(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
