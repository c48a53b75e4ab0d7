package actors

import (
	"testing"
	"time"
)

func TestRestartBackoffDoublesUpToTheCap(t *testing.T) {
	s := &budgetStrategy{backoff: 20 * time.Millisecond, backoffMax: 100 * time.Millisecond}
	want := []time.Duration{0, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond}
	for i, w := range want {
		if got := s.delay(i + 1); got != w {
			t.Errorf("restart %d: backoff %v, want %v", i+1, got, w)
		}
	}
	if d := (&budgetStrategy{}).delay(5); d != 0 {
		t.Errorf("no backoff configured: %v, want 0", d)
	}
}
