package uuid

import (
	"regexp"
	"testing"
)

func TestNew(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		u := New()
		if !re.MatchString(u) || seen[u] {
			t.Fatalf("New() = %q (seen before: %v)", u, seen[u])
		}
		seen[u] = true
	}
}
