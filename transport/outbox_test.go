package transport

import (
	"slices"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/troupe-chat/troupe/metrics"
)

// queueOnly is a socket whose writer is taken to be running already, so
// frames stay in its queue for the test to take, as the writer would.
func queueOnly(t *testing.T, limit int) *socket {
	t.Helper()
	return &socket{limit: limit, metrics: metrics.New(prometheus.NewPedanticRegistry()), writing: true, writers: &sync.WaitGroup{}}
}

func strs(frames [][]byte) []string {
	out := make([]string, len(frames))
	for i, f := range frames {
		out[i] = string(f)
	}
	return out
}

// TestOfferLatestCoalescesWhatIsQueued: a later frame of a queued key
// replaces it in place; once the writer took the queue, the key starts
// afresh; messages keep their order around the coalesced frames.
func TestOfferLatestCoalescesWhatIsQueued(t *testing.T) {
	s := queueOnly(t, 16)
	s.OfferLatest("a", []byte("a1"))
	s.Enqueue([]byte("m1"))
	s.OfferLatest("b", []byte("b1"))
	s.OfferLatest("a", []byte("a2"))
	s.OfferLatest("a", []byte("a3"))
	s.Enqueue([]byte("m2"))
	s.mu.Lock()
	got := strs(s.takeQueue())
	s.mu.Unlock()
	if want := []string{"a3", "m1", "b1", "m2"}; !slices.Equal(got, want) {
		t.Fatalf("taken %q, want %q", got, want)
	}
	s.OfferLatest("a", []byte("a4"))
	s.mu.Lock()
	got = strs(s.takeQueue())
	s.mu.Unlock()
	if want := []string{"a4"}; !slices.Equal(got, want) {
		t.Fatalf("after the take: %q, want %q", got, want)
	}
	if n := testutil.ToFloat64(s.metrics.Drops.WithLabelValues("coalesced")); n != 2 {
		t.Fatalf("coalesced = %v, want 2", n)
	}
}

// TestOfferLatestHoldsPastHalf: a key not queued that finds the queue half
// full is held, one frame per key (the latest), and goes out with the next
// take; beyond half the bound of held keys a frame is dropped; nothing of
// it ever closes the connection.
func TestOfferLatestHoldsPastHalf(t *testing.T) {
	s := queueOnly(t, 8)
	for _, m := range []string{"m1", "m2", "m3", "m4"} {
		s.Enqueue([]byte(m))
	}
	s.OfferLatest("a", []byte("a1"))
	s.OfferLatest("a", []byte("a2"))
	for _, k := range []string{"b", "c", "d", "e"} {
		s.OfferLatest(k, []byte(k+"1"))
	}
	s.mu.Lock()
	got := strs(s.takeQueue())
	closing := s.closing
	s.mu.Unlock()
	if closing {
		t.Fatal("ephemeral frames closed the connection")
	}
	if len(got) != 8 || !slices.Equal(got[:4], []string{"m1", "m2", "m3", "m4"}) {
		t.Fatalf("taken %q, want the messages then 4 held frames", got)
	}
	held := map[string]bool{}
	for _, f := range got[4:] {
		held[f] = true
	}
	if !held["a2"] || held["a1"] || held["e1"] {
		t.Fatalf("held %q, want a2 (the latest of a) and not e1 (over the bound)", got[4:])
	}
	if n := testutil.ToFloat64(s.metrics.Drops.WithLabelValues("ephemeral")); n != 1 {
		t.Fatalf("ephemeral drops = %v, want 1", n)
	}
	s.mu.Lock()
	rest := s.queued()
	s.mu.Unlock()
	if rest != 0 {
		t.Fatalf("%d frames left after the take", rest)
	}
}
