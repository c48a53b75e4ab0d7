package drill

import (
	"context"
	"testing"
	"time"
)

// TestLagMeterWorstSince: worstSince covers the wake-ups that ran after t
// (a late one due before t too) and forgets what is older than lagKeep.
func TestLagMeterWorstSince(t *testing.T) {
	m := &lagMeter{}
	t0 := time.UnixMilli(1_700_000_000_000)
	m.record(t0, 900*time.Millisecond)
	m.record(t0.Add(time.Second), time.Millisecond)
	m.record(t0.Add(2*time.Second), 300*time.Millisecond)
	m.record(t0.Add(3*time.Second), 2*time.Millisecond)
	if got := m.worstSince(t0.Add(2200 * time.Millisecond)); got != 300*time.Millisecond {
		t.Fatalf("worst since 2.2s = %v, want the 300ms of the wake-up due at 2s, run at 2.3s", got)
	}
	if got := m.worstSince(t0.Add(2500 * time.Millisecond)); got != 2*time.Millisecond {
		t.Fatalf("worst since 2.5s = %v, want 2ms", got)
	}
	if got := m.worstSince(t0); got != 900*time.Millisecond {
		t.Fatalf("worst since the start = %v, want 900ms", got)
	}
	m.record(t0.Add(lagKeep+1500*time.Millisecond), time.Millisecond)
	if got := m.worstSince(t0); got != 300*time.Millisecond {
		t.Fatalf("worst since the start, 11.5s on = %v, want 300ms (the 900ms is past lagKeep)", got)
	}
	if s := m.summary(); s.Count != 5 || s.Max != 900 {
		t.Fatalf("summary = %+v, want 5 samples, max 900ms", s)
	}
	// A wake-up overdue now counts before it has run.
	m.waiting.Store(time.Now().Add(-time.Second).UnixNano())
	if got := m.worstSince(time.Now()); got < time.Second {
		t.Fatalf("worst with a wake-up a second overdue = %v", got)
	}
}

// TestLagMeterRuns: the meter's probes go round its loopback connection and
// are recorded until its context ends.
func TestLagMeterRuns(t *testing.T) {
	m := &lagMeter{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.run(ctx)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for m.summary().Count < 3 {
		if time.Now().After(deadline) {
			t.Fatal("no probe came round in 10s")
		}
		time.Sleep(lagTick)
	}
	cancel()
	<-done
	if s := m.summary(); s.Max <= 0 {
		t.Fatalf("summary = %+v, want lags above 0", s)
	}
}
