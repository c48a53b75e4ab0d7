package retention

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/faults"
	"github.com/troupe-chat/troupe/persistence/sqlite"
	"github.com/troupe-chat/troupe/persistence/storetest"
)

// eachStore runs test against a fresh memory store and a fresh SQLite
// store on a file in the test's temp dir.
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

// clockAt returns a clock standing at the TS storetest.Msg gives offset
// off, plus d: the instant an age bound of d selects the offsets below off.
func clockAt(off uint64, d time.Duration) func() time.Time {
	at := storetest.TSBefore(off).Add(d)
	return func() time.Time { return at }
}

// retained returns the offsets room holds.
func retained(t *testing.T, s persistence.Store, room string) []uint64 {
	t.Helper()
	return storetest.Offsets(storetest.MustRead(t, s, room, persistence.ReadQuery{Limit: 1 << 20}).Messages)
}

// runOnce makes one pass and checks how many messages it trimmed.
func runOnce(t *testing.T, r *Runner, want int) {
	t.Helper()
	n, err := r.RunOnce(t.Context())
	if err != nil || n != want {
		t.Fatalf("RunOnce = %d, %v; want %d, nil", n, err, want)
	}
}

// countingStore counts Trim calls and checks their Limit.
type countingStore struct {
	persistence.Store
	mu     sync.Mutex
	calls  int
	limits []int
}

func (c *countingStore) Trim(ctx context.Context, room string, req persistence.TrimRequest) (int, error) {
	c.mu.Lock()
	c.calls++
	c.limits = append(c.limits, req.Limit)
	c.mu.Unlock()
	return c.Store.Trim(ctx, room, req)
}

func TestRunnerCountBound(t *testing.T) {
	eachStore(t, func(t *testing.T, s persistence.Store) {
		storetest.Seed(t, s, "r", 200)
		cs := &countingStore{Store: s}
		r := NewRunner(cs, Policy{MaxCount: 50}, 10, 7, time.Hour, nil, clockAt(1, 0))
		runOnce(t, r, 150)
		if got := retained(t, s, "r"); !slices.Equal(got, storetest.Span(151, 200)) {
			t.Fatalf("retained %v, want 151..200", got)
		}
		// 150 in batches of 7: 21 full calls, then one that finds 3.
		if cs.calls != 22 || slices.ContainsFunc(cs.limits, func(l int) bool { return l != 7 }) {
			t.Fatalf("%d Trim calls with limits %v, want 22 of limit 7", cs.calls, cs.limits)
		}
		runOnce(t, r, 0)
		if info := storetest.MustLookup(t, s, "r"); info.LastOffset != 200 {
			t.Fatalf("last offset %d, want 200", info.LastOffset)
		}
	})
}

func TestRunnerBatchMultiple(t *testing.T) {
	eachStore(t, func(t *testing.T, s persistence.Store) {
		storetest.Seed(t, s, "r", 30)
		cs := &countingStore{Store: s}
		runOnce(t, NewRunner(cs, Policy{MaxCount: 10}, 0, 5, time.Hour, nil, nil), 20)
		if cs.calls != 5 { // four full batches, then one that finds nothing
			t.Fatalf("%d Trim calls, want 5", cs.calls)
		}
	})
}

func TestRunnerFloorBeatsCount(t *testing.T) {
	eachStore(t, func(t *testing.T, s persistence.Store) {
		storetest.Seed(t, s, "r", 100)
		runOnce(t, NewRunner(s, Policy{MaxCount: 5}, 20, 8, time.Hour, nil, clockAt(1, 0)), 80)
		if got := retained(t, s, "r"); !slices.Equal(got, storetest.Span(81, 100)) {
			t.Fatalf("retained %v, want the floor's 81..100", got)
		}
	})
}

func TestRunnerAgeBound(t *testing.T) {
	eachStore(t, func(t *testing.T, s persistence.Store) {
		storetest.Seed(t, s, "r", 100)
		clock := clockAt(61, 30*24*time.Hour) // 30 days after message 61
		runOnce(t, NewRunner(s, Policy{MaxAge: 30 * 24 * time.Hour}, 10, 9, time.Hour, nil, clock), 60)
		if got := retained(t, s, "r"); !slices.Equal(got, storetest.Span(61, 100)) {
			t.Fatalf("retained %v, want 61..100", got)
		}
	})
}

func TestRunnerAgeRespectsFloor(t *testing.T) {
	eachStore(t, func(t *testing.T, s persistence.Store) {
		storetest.Seed(t, s, "r", 100)
		far := clockAt(10_000, time.Hour) // every message is old
		r := NewRunner(s, Policy{MaxAge: time.Minute}, 25, 10, time.Hour, nil, far)
		runOnce(t, r, 75)
		if got := retained(t, s, "r"); !slices.Equal(got, storetest.Span(76, 100)) {
			t.Fatalf("retained %v, want the floor's 76..100", got)
		}
		runOnce(t, r, 0)
	})
}

func TestRunnerBothBounds(t *testing.T) {
	eachStore(t, func(t *testing.T, s persistence.Store) {
		storetest.Seed(t, s, "count", 100) // the count bound is tighter
		storetest.Seed(t, s, "age", 50)    // the age bound is tighter
		// Now is one hour after message 31: MaxAge 1h trims 1..30 by age.
		r := NewRunner(s, Policy{MaxAge: time.Hour, MaxCount: 40}, 5, 6, time.Hour, nil, clockAt(31, time.Hour))
		runOnce(t, r, 60+30)
		if got := retained(t, s, "count"); !slices.Equal(got, storetest.Span(61, 100)) {
			t.Errorf("room count retains %v, want 61..100", got)
		}
		if got := retained(t, s, "age"); !slices.Equal(got, storetest.Span(31, 50)) {
			t.Errorf("room age retains %v, want 31..50", got)
		}
	})
}

func TestRunnerEmptyAndSmallRooms(t *testing.T) {
	eachStore(t, func(t *testing.T, s persistence.Store) {
		storetest.MustOpenRoom(t, s, "empty")
		if _, err := s.ConfigureRoom(t.Context(), "configured", persistence.RoomConfig{MaxMembers: 3}); err != nil {
			t.Fatal(err)
		}
		storetest.Seed(t, s, "small", 8)                                                // below the floor
		storetest.Seed(t, s, "gone", 30)                                                // emptied by an earlier trim
		storetest.MustTrim(t, s, "gone", persistence.TrimRequest{UpTo: 30, Limit: 100}) // floor or not
		r := NewRunner(s, Policy{MaxAge: time.Second, MaxCount: 1}, 10, 4, time.Hour, nil, clockAt(10_000, 0))
		runOnce(t, r, 0)
		if got := retained(t, s, "small"); !slices.Equal(got, storetest.Span(1, 8)) {
			t.Fatalf("small room retains %v, want 1..8", got)
		}
		if rooms, err := s.ListRooms(t.Context()); err != nil || len(rooms) != 4 {
			t.Fatalf("ListRooms after pass = %d rooms, %v; want 4 (trimming keeps rooms)", len(rooms), err)
		}
	})
}

func TestRunnerManyRooms(t *testing.T) {
	eachStore(t, func(t *testing.T, s persistence.Store) {
		const rooms = 40
		want := 0
		for i := range rooms {
			n := 3 * i // 0..117 messages
			room := fmt.Sprintf("room-%02d", i)
			st := storetest.MustOpenRoom(t, s, room)
			if n > 0 {
				storetest.MustAppend(t, s, room, st.Claim(), storetest.Batch(1, n))
			}
			want += max(n-25, 0)
		}
		runOnce(t, NewRunner(s, Policy{MaxCount: 25}, 10, 16, time.Hour, nil, nil), want)
		for i := range rooms {
			n := uint64(3 * i)
			room := fmt.Sprintf("room-%02d", i)
			lo := uint64(1)
			if n > 25 {
				lo = n - 24
			}
			if got := retained(t, s, room); !slices.Equal(got, storetest.Span(lo, n)) {
				t.Errorf("%s retains %v, want %d..%d", room, got, lo, n)
			}
		}
	})
}

func TestRunnerOff(t *testing.T) {
	s := persistence.NewMemory()
	storetest.Seed(t, s, "r", 20)
	r := NewRunner(s, Policy{}, 0, 1, time.Millisecond, nil, nil)
	runOnce(t, r, 0)
	if err := r.Run(t.Context()); err != nil { // returns at once
		t.Fatalf("Run with retention off: %v", err)
	}
	if got := retained(t, s, "r"); len(got) != 20 {
		t.Fatalf("retained %d messages, want all 20", len(got))
	}
}

func TestRunnerReportsStoreErrors(t *testing.T) {
	fs := faults.Wrap(persistence.NewMemory())
	t.Cleanup(func() { _ = fs.Close() })
	storetest.Seed(t, fs, "r", 20)
	r := NewRunner(fs, Policy{MaxCount: 5}, 0, 4, time.Hour, nil, nil)
	fs.Inject(faults.Fail)
	if _, err := r.RunOnce(t.Context()); !errors.Is(err, faults.ErrInjected) {
		t.Fatalf("RunOnce on a failing store: %v, want faults.ErrInjected", err)
	}
	fs.Heal()
	runOnce(t, r, 15)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	storetest.Seed(t, fs, "r2", 20)
	if _, err := r.RunOnce(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("RunOnce with a canceled context: %v, want context.Canceled", err)
	}
}

// TestRunnerRunPassesUntilCanceled checks that Run trims at once, again on
// later ticks as the room grows, and returns nil when its context ends.
func TestRunnerRunPassesUntilCanceled(t *testing.T) {
	eachStore(t, func(t *testing.T, s persistence.Store) {
		st := storetest.Seed(t, s, "r", 50)
		r := NewRunner(s, Policy{MaxCount: 30}, 5, 7, time.Millisecond, nil, clockAt(1, 0))
		passes := make(chan int)
		r.afterPass = func(n int, err error) {
			if err != nil {
				t.Errorf("pass: %v", err)
			}
			passes <- n
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		if n := <-passes; n != 20 {
			t.Fatalf("first pass trimmed %d, want 20", n)
		}
		storetest.MustAppend(t, s, "r", st.Claim(), storetest.Batch(51, 10))
		got := 0
		for got < 10 { // a pass may have listed the room before the append
			got += <-passes
		}
		if got != 10 {
			t.Fatalf("later passes trimmed %d, want 10", got)
		}
		if got := retained(t, s, "r"); !slices.Equal(got, storetest.Span(31, 60)) {
			t.Fatalf("retained %v, want 31..60", got)
		}
		cancel()
		go func() { // drain a pass that ended as ctx did
			for range passes {
			}
		}()
		if err := <-done; err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
		close(passes)
	})
}
