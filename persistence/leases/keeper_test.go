package leases

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/troupe-chat/troupe/metrics"
	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/sqlite"
)

// waitTimeout bounds every wait in these tests.
const waitTimeout = 10 * time.Second

// eachStore runs test against a fresh memory store and a fresh SQLite store.
func eachStore(t *testing.T, test func(t *testing.T, s persistence.Store)) {
	t.Run("memory", func(t *testing.T) {
		s := persistence.NewMemory()
		t.Cleanup(func() { _ = s.Close() })
		test(t, s)
	})
	t.Run("sqlite", func(t *testing.T) {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "troupe.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		test(t, s)
	})
}

// testStore wraps a lease store: it fails renewals on demand and reports
// every read of the table (the end of a round) on rounds.
type testStore struct {
	persistence.LeaseStore
	fail   atomic.Bool
	rounds chan struct{}
}

var errInjected = errors.New("injected")

func newTestStore(inner persistence.LeaseStore) *testStore {
	return &testStore{LeaseStore: inner, rounds: make(chan struct{}, 64)}
}

func (s *testStore) RenewLease(ctx context.Context, node string, ttl time.Duration) (persistence.Lease, error) {
	if s.fail.Load() {
		return persistence.Lease{}, errInjected
	}
	return s.LeaseStore.RenewLease(ctx, node, ttl)
}

func (s *testStore) Leases(ctx context.Context) ([]persistence.Lease, error) {
	l, err := s.LeaseStore.Leases(ctx)
	select {
	case s.rounds <- struct{}{}:
	default: // a test that does not count rounds
	}
	return l, err
}

func newMetrics() *metrics.Metrics { return metrics.New(prometheus.NewRegistry()) }

// changes returns an OnChange that sends to the returned channel.
func changes() (func([]string), <-chan []string) {
	ch := make(chan []string, 64)
	return func(live []string) { ch <- live }, ch
}

// waitLive waits until OnChange reports want.
func waitLive(t *testing.T, ch <-chan []string, want ...string) {
	t.Helper()
	deadline := time.After(waitTimeout)
	var last []string
	for {
		select {
		case live := <-ch:
			if slices.Equal(live, want) {
				return
			}
			last = live
		case <-deadline:
			t.Fatalf("live nodes %v, want %v", last, want)
		}
	}
}

func start(t *testing.T, opts Options) *Keeper {
	t.Helper()
	k, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Stop(context.Background(), false) })
	return k
}

func renewals(m *metrics.Metrics, outcome string) float64 {
	return testutil.ToFloat64(m.LeaseRenewals.WithLabelValues(outcome))
}

func TestStartHoldsAndReports(t *testing.T) {
	eachStore(t, func(t *testing.T, s persistence.Store) {
		m := newMetrics()
		onChange, ch := changes()
		k := start(t, Options{Store: s, Node: "A", TTL: time.Hour, Interval: time.Minute, OnChange: onChange, Metrics: m})
		waitLive(t, ch, "A")
		if !k.Held() || !slices.Equal(k.Live(), []string{"A"}) {
			t.Fatalf("held %v, live %v", k.Held(), k.Live())
		}
		if renewals(m, "ok") != 1 || testutil.ToFloat64(m.ClusterNodes) != 1 {
			t.Fatalf("renewals %v, nodes %v", renewals(m, "ok"), testutil.ToFloat64(m.ClusterNodes))
		}
		l, err := s.Leases(t.Context())
		if err != nil || len(l) != 1 || l[0].Node != "A" {
			t.Fatalf("leases %v, %v", l, err)
		}
	})
}

// TestNodesComeAndGo: a keeper sees another node appear, leave with a
// release at once, and expire after a stop without one.
func TestNodesComeAndGo(t *testing.T) {
	eachStore(t, func(t *testing.T, s persistence.Store) {
		m := newMetrics()
		onChange, ch := changes()
		const ttl, interval = 300 * time.Millisecond, 20 * time.Millisecond
		start(t, Options{Store: s, Node: "B", TTL: ttl, Interval: interval, OnChange: onChange, Metrics: m})
		waitLive(t, ch, "B")

		a, err := Start(t.Context(), Options{Store: s, Node: "A", TTL: ttl, Interval: interval, Metrics: newMetrics()})
		if err != nil {
			t.Fatal(err)
		}
		waitLive(t, ch, "A", "B")
		if err := a.Stop(t.Context(), true); err != nil {
			t.Fatal(err)
		}
		if a.Held() || slices.Contains(a.Live(), "A") {
			t.Fatalf("stopped keeper: held %v, live %v", a.Held(), a.Live())
		}
		if err := a.Stop(t.Context(), true); err != nil {
			t.Fatalf("second Stop: %v", err)
		}
		released := time.Now()
		waitLive(t, ch, "B")
		if d := time.Since(released); d >= ttl {
			t.Fatalf("released lease seen gone after %v, not within a round", d)
		}

		c, err := Start(t.Context(), Options{Store: s, Node: "C", TTL: ttl, Interval: interval, Metrics: newMetrics()})
		if err != nil {
			t.Fatal(err)
		}
		waitLive(t, ch, "B", "C")
		if err := c.Stop(t.Context(), false); err != nil {
			t.Fatal(err)
		}
		waitLive(t, ch, "B") // once C's lease expires
		if testutil.ToFloat64(m.ClusterNodes) != 1 {
			t.Fatalf("nodes gauge %v", testutil.ToFloat64(m.ClusterNodes))
		}
	})
}

// TestUnhealthyLetsTheLeaseLapse drives the keeper on a fake clock: while
// unhealthy it skips renewals and stops holding its lease after the TTL;
// healthy again, it renews and counts the loss.
func TestUnhealthyLetsTheLeaseLapse(t *testing.T) {
	mem := persistence.NewMemory()
	s := newTestStore(mem)
	m := newMetrics()
	clock := clockwork.NewFakeClock()
	var healthy atomic.Bool
	healthy.Store(true)
	const ttl, interval = 3 * time.Second, time.Second
	k := start(t, Options{Store: s, Node: "A", TTL: ttl, Interval: interval,
		Healthy: healthy.Load, Metrics: m, Clock: clock})
	<-s.rounds // the first round, in Start
	// The loop's ticker exists before the clock moves.
	if err := clock.BlockUntilContext(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	tick := func() {
		t.Helper()
		clock.Advance(interval)
		select {
		case <-s.rounds:
		case <-time.After(waitTimeout):
			t.Fatal("no round after a tick")
		}
	}

	tick()
	if renewals(m, "ok") != 2 || !k.Held() {
		t.Fatalf("ok renewals %v, held %v", renewals(m, "ok"), k.Held())
	}
	healthy.Store(false)
	for range 2 {
		tick()
	}
	if renewals(m, "skipped") != 2 || !k.Held() {
		t.Fatalf("skipped %v, held %v after 2 s", renewals(m, "skipped"), k.Held())
	}
	tick() // 3 s since the last renewal: gone
	if k.Held() || slices.Contains(k.Live(), "A") {
		t.Fatalf("held %v, live %v after the ttl", k.Held(), k.Live())
	}
	tick()
	if testutil.ToFloat64(m.LeaseLosses) != 0 {
		t.Fatal("a loss counted before renewing")
	}
	healthy.Store(true)
	tick()
	if !k.Held() || testutil.ToFloat64(m.LeaseLosses) != 1 || renewals(m, "ok") != 3 {
		t.Fatalf("held %v, losses %v, ok %v", k.Held(), testutil.ToFloat64(m.LeaseLosses), renewals(m, "ok"))
	}
	tick()
	if testutil.ToFloat64(m.LeaseLosses) != 1 {
		t.Fatal("a timely renewal counted as a loss")
	}
}

// TestRenewalErrors: a failed renewal drops Held at once and is counted; the
// next good one restores it.
func TestRenewalErrors(t *testing.T) {
	s := newTestStore(persistence.NewMemory())
	m := newMetrics()
	clock := clockwork.NewFakeClock()
	k := start(t, Options{Store: s, Node: "A", TTL: 3 * time.Second, Metrics: m, Clock: clock})
	<-s.rounds
	if err := clock.BlockUntilContext(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	s.fail.Store(true)
	clock.Advance(time.Second)
	<-s.rounds
	if k.Held() || renewals(m, "error") != 1 {
		t.Fatalf("held %v, errors %v", k.Held(), renewals(m, "error"))
	}
	s.fail.Store(false)
	clock.Advance(time.Second)
	<-s.rounds
	if !k.Held() || testutil.ToFloat64(m.LeaseLosses) != 0 {
		t.Fatalf("held %v, losses %v", k.Held(), testutil.ToFloat64(m.LeaseLosses))
	}
}

func TestStartErrors(t *testing.T) {
	m := newMetrics()
	mem := persistence.NewMemory()
	for name, opts := range map[string]Options{
		"no store":          {Node: "A", Metrics: m},
		"no metrics":        {Store: mem, Node: "A"},
		"empty node":        {Store: mem, Metrics: m},
		"bad node":          {Store: mem, Node: "a\x00b", Metrics: m},
		"negative ttl":      {Store: mem, Node: "A", TTL: -time.Second, Metrics: m},
		"interval too long": {Store: mem, Node: "A", TTL: time.Second, Interval: time.Second, Metrics: m},
	} {
		if k, err := Start(t.Context(), opts); err == nil {
			_ = k.Stop(t.Context(), true)
			t.Errorf("%s: started", name)
		}
	}
	closed := persistence.NewMemory()
	_ = closed.Close()
	if k, err := Start(t.Context(), Options{Store: closed, Node: "A", Metrics: m}); err == nil {
		_ = k.Stop(t.Context(), false)
		t.Error("started on a closed store")
	} else if !errors.Is(err, persistence.ErrClosed) {
		t.Errorf("error %v does not wrap ErrClosed", err)
	}
}

// TestStartUnhealthy: a node whose bus is down at start starts without its
// lease and takes it once healthy.
func TestStartUnhealthy(t *testing.T) {
	s := newTestStore(persistence.NewMemory())
	m := newMetrics()
	var healthy atomic.Bool
	onChange, ch := changes()
	k := start(t, Options{Store: s, Node: "A", TTL: time.Hour, Interval: 10 * time.Millisecond,
		Healthy: healthy.Load, OnChange: onChange, Metrics: m})
	waitLive(t, ch) // the first round: nobody
	if k.Held() || renewals(m, "skipped") < 1 {
		t.Fatalf("held %v, skipped %v", k.Held(), renewals(m, "skipped"))
	}
	healthy.Store(true)
	waitLive(t, ch, "A")
	if !k.Held() {
		t.Fatal("not held once healthy")
	}
}
