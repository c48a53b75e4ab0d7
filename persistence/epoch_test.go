package persistence

import (
	"regexp"
	"testing"
)

// epochRE matches the epoch format NewEpoch promises.
var epochRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

// TestNewEpoch checks the epoch format and that epochs do not repeat.
func TestNewEpoch(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		e := NewEpoch()
		if !epochRE.MatchString(e) {
			t.Fatalf("NewEpoch() = %q, want 16 lowercase hex chars", e)
		}
		if seen[e] {
			t.Fatalf("NewEpoch() repeated %q", e)
		}
		seen[e] = true
	}
}
