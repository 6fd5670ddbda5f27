package cron

import (
	"testing"
	"time"
)

func TestParseExpiry(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30S":    30 * time.Second,
		"1M":     time.Minute,
		"2H 30M": 2*time.Hour + 30*time.Minute,
		"1d 1w":  8 * 24 * time.Hour,
		"1m":     30 * 24 * time.Hour,
		"1y 1S":  365*24*time.Hour + time.Second,
		" 0S ":   0,
	} {
		got, err := ParseExpiry(in)
		if err != nil || got != want {
			t.Errorf("ParseExpiry(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "S", "1", "1s", "-1d", "1d 2d", "1.5H", "1x"} {
		if _, err := ParseExpiry(bad); err == nil {
			t.Errorf("ParseExpiry(%q) took it", bad)
		}
	}
}
