package troupe_test

import (
	"testing"
	"time"

	"github.com/troupe-chat/troupe/clients/go/troupe"
)

func TestBackoffCeiling(t *testing.T) {
	b := troupe.Backoff{Min: 500 * time.Millisecond, Max: 20 * time.Second}
	want := []time.Duration{
		500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second,
		8 * time.Second, 16 * time.Second, 20 * time.Second, 20 * time.Second,
	}
	for n, w := range want {
		if got := b.Ceiling(n); got != w {
			t.Errorf("Ceiling(%d) = %s, want %s", n, got, w)
		}
	}
	for _, n := range []int{40, 62, 63, 64, 1000} {
		if got := b.Ceiling(n); got != b.Max {
			t.Errorf("Ceiling(%d) = %s, want Max %s (no overflow)", n, got, b.Max)
		}
	}
	if got := b.Ceiling(-1); got != b.Min {
		t.Errorf("Ceiling(-1) = %s, want Min", got)
	}
	if got := (troupe.Backoff{}).Delay(3); got != 0 {
		t.Errorf("zero Backoff: Delay = %s, want 0", got)
	}
}

// TestBackoffFullJitter checks that delays stay within [0, ceiling] and are
// spread over that whole range, not bunched near the ceiling.
func TestBackoffFullJitter(t *testing.T) {
	b := troupe.Backoff{Min: 500 * time.Millisecond, Max: 20 * time.Second}
	for _, n := range []int{0, 3, 10} {
		ceiling := b.Ceiling(n)
		lo, hi := ceiling, time.Duration(0)
		const samples = 2000
		for range samples {
			d := b.Delay(n)
			if d < 0 || d > ceiling {
				t.Fatalf("Delay(%d) = %s, outside [0, %s]", n, d, ceiling)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		// With 2000 uniform samples, missing the bottom or top tenth has
		// probability 2·0.9^2000 ≈ 1e-91.
		if lo > ceiling/10 || hi < ceiling*9/10 {
			t.Errorf("Delay(%d) spans [%s, %s] of [0, %s]; want full jitter", n, lo, hi, ceiling)
		}
	}
}
