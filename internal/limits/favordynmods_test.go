package limits

import (
	"os"
	"strings"
	"testing"
)

func TestFavorCgroupMovesKeepsOtherOptions(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (remounts the host's cgroup2)")
	}
	target, before, err := cgroup2Mount()
	if err != nil || target == "" {
		t.Skipf("no cgroup2 mount: %v", err)
	}
	if _, err := FavorCgroupMoves(); err != nil {
		t.Fatal(err)
	}
	_, after, err := cgroup2Mount()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, o := range strings.Split(after, ",") {
		have[o] = true
	}
	if !have["favordynmods"] {
		t.Fatalf("%s options after: %q", target, after)
	}
	for _, o := range strings.Split(before, ",") {
		if !have[o] {
			t.Fatalf("option %q of %s was lost: %q -> %q", o, target, before, after)
		}
	}
	if changed, err := FavorCgroupMoves(); err != nil || changed != "" {
		t.Fatalf("second call: %q %v", changed, err)
	}
}
