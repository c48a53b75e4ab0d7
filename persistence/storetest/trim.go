package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/persistence"
)

// MustTrim trims room or fails the test, and returns how many messages went.
func MustTrim(t testing.TB, s persistence.Store, room string, req persistence.TrimRequest) int {
	t.Helper()
	n, err := s.Trim(t.Context(), room, req)
	if err != nil {
		t.Fatalf("Trim(%q, %+v): %v", room, req, err)
	}
	return n
}

// MustOldest returns the room's oldest retained offset or fails the test.
func MustOldest(t testing.TB, s persistence.Store, room string) uint64 {
	t.Helper()
	off, err := s.OldestOffset(t.Context(), room)
	if err != nil {
		t.Fatalf("OldestOffset(%q): %v", room, err)
	}
	return off
}

// TSBefore returns the Before bound that selects exactly the messages Msg
// builds with offsets < off.
func TSBefore(off uint64) time.Time {
	return time.UnixMilli(Msg(off).TS)
}

// checkRetained fails the test unless room holds exactly the offsets
// lo..hi (nothing when lo > hi), reads right in every direction, and still
// has its LastOffset last.
func checkRetained(t *testing.T, s persistence.Store, room string, lo, hi, last uint64) {
	t.Helper()
	want := Span(lo, hi)
	if got := Offsets(MustRead(t, s, room, persistence.ReadQuery{Limit: 1000}).Messages); !slices.Equal(got, want) {
		t.Errorf("%s retains %v, want %v", room, got, want)
	}
	oldest := uint64(0)
	if lo <= hi {
		oldest = lo
	}
	if got := MustOldest(t, s, room); got != oldest {
		t.Errorf("OldestOffset(%s) = %d, want %d", room, got, oldest)
	}
	if info := MustLookup(t, s, room); info.LastOffset != last {
		t.Errorf("LastOffset(%s) = %d after trim, want %d", room, info.LastOffset, last)
	}
}

// runTrim checks Trim and OldestOffset.
func runTrim(t *testing.T, open func(t *testing.T) persistence.Store) {
	t.Run("TrimByOffset", func(t *testing.T) {
		s := open(t)
		st := Seed(t, s, "r", 30)
		Seed(t, s, "r2", 5) // a room whose name extends "r" must be untouched
		if got := MustOldest(t, s, "r"); got != 1 {
			t.Fatalf("OldestOffset before trim = %d, want 1", got)
		}
		if n := MustTrim(t, s, "r", persistence.TrimRequest{UpTo: 10, Limit: 100}); n != 10 {
			t.Fatalf("Trim(UpTo 10) = %d, want 10", n)
		}
		checkRetained(t, s, "r", 11, 30, 30)
		checkRetained(t, s, "r2", 1, 5, 5)
		for _, tc := range []struct {
			q    persistence.ReadQuery
			want []uint64
			more bool
		}{
			{persistence.ReadQuery{Limit: 20}, Span(11, 30), false},
			{persistence.ReadQuery{Limit: 19}, Span(12, 30), true},
			{persistence.ReadQuery{Before: 15, Limit: 10}, Span(11, 14), false},
			{persistence.ReadQuery{Before: 21, Limit: 5}, Span(16, 20), true},
			{persistence.ReadQuery{Before: 16, Limit: 5}, Span(11, 15), false},
			{persistence.ReadQuery{Before: 11, Limit: 5}, Span(1, 0), false},
			{persistence.ReadQuery{After: 3, Limit: 3}, Span(11, 13), true},
			{persistence.ReadQuery{After: 10, Limit: 20}, Span(11, 30), false},
			{persistence.ReadQuery{After: 28, Limit: 5}, Span(29, 30), false},
		} {
			got := MustRead(t, s, "r", tc.q)
			if g := Offsets(got.Messages); !slices.Equal(g, tc.want) || got.More != tc.more {
				t.Errorf("Read(%+v) after trim = %v More %v, want %v More %v", tc.q, g, got.More, tc.want, tc.more)
			}
		}
		if n := MustTrim(t, s, "r", persistence.TrimRequest{UpTo: 10, Limit: 100}); n != 0 {
			t.Fatalf("repeated Trim(UpTo 10) = %d, want 0", n)
		}
		// Offsets are not reused and the stream continues.
		if err := s.Append(t.Context(), "r", st.Claim(), Batch(11, 1)); !errors.Is(err, persistence.ErrOffsetMismatch) {
			t.Fatalf("Append at a trimmed offset: %v, want persistence.ErrOffsetMismatch", err)
		}
		MustAppend(t, s, "r", st.Claim(), Batch(31, 2))
		checkRetained(t, s, "r", 11, 32, 32)
		if again := MustOpenRoom(t, s, "r"); again.Created || again.Epoch != st.Epoch || again.LastOffset != 32 {
			t.Fatalf("OpenRoom after trim = %+v, want epoch %s last offset 32", again, st.Epoch)
		}
	})

	t.Run("TrimRespectsLimit", func(t *testing.T) {
		s := open(t)
		Seed(t, s, "r", 30)
		for _, want := range []int{7, 7, 7, 4, 0} {
			if n := MustTrim(t, s, "r", persistence.TrimRequest{UpTo: 25, Limit: 7}); n != want {
				t.Fatalf("Trim(UpTo 25, Limit 7) = %d, want %d", n, want)
			}
		}
		checkRetained(t, s, "r", 26, 30, 30)
		if n := MustTrim(t, s, "r", persistence.TrimRequest{UpTo: math.MaxUint64, Limit: 1}); n != 1 {
			t.Fatalf("Trim(Limit 1) = %d, want 1", n)
		}
		if n := MustTrim(t, s, "r", persistence.TrimRequest{UpTo: math.MaxUint64, Limit: math.MaxInt}); n != 4 {
			t.Fatalf("Trim(everything, Limit MaxInt) = %d, want 4", n)
		}
		checkRetained(t, s, "r", 1, 0, 30)
	})

	t.Run("TrimByAge", func(t *testing.T) {
		s := open(t)
		Seed(t, s, "r", 30)
		if n := MustTrim(t, s, "r", persistence.TrimRequest{UpTo: math.MaxUint64, Before: TSBefore(11), Limit: 100}); n != 10 {
			t.Fatalf("Trim(Before ts of 11) = %d, want 10", n)
		}
		checkRetained(t, s, "r", 11, 30, 30)
		if n := MustTrim(t, s, "r", persistence.TrimRequest{UpTo: math.MaxUint64, Before: TSBefore(11), Limit: 100}); n != 0 {
			t.Fatalf("repeated age trim = %d, want 0", n)
		}
		// Limit applies to age trims too.
		if n := MustTrim(t, s, "r", persistence.TrimRequest{UpTo: math.MaxUint64, Before: TSBefore(21), Limit: 4}); n != 4 {
			t.Fatalf("age trim with Limit 4 = %d, want 4", n)
		}
		checkRetained(t, s, "r", 15, 30, 30)
		// Everything old: the stream empties, the room stays.
		if n := MustTrim(t, s, "r", persistence.TrimRequest{UpTo: math.MaxUint64, Before: TSBefore(1000), Limit: 100}); n != 16 {
			t.Fatalf("trim of everything = %d, want 16", n)
		}
		checkRetained(t, s, "r", 1, 0, 30)
		if got := MustRead(t, s, "r", persistence.ReadQuery{Before: 31, Limit: 5}); len(got.Messages) != 0 || got.More || got.Messages == nil {
			t.Fatalf("Read of a trimmed-empty stream = %+v, want empty non-nil, More false", got)
		}
		st := MustOpenRoom(t, s, "r")
		MustAppend(t, s, "r", st.Claim(), Batch(31, 1))
		checkRetained(t, s, "r", 31, 31, 31)
	})

	t.Run("TrimByAgeStopsAtYoungMessage", func(t *testing.T) {
		s := open(t)
		st := MustOpenRoom(t, s, "r")
		msgs := Batch(1, 10)
		msgs[4].TS = Msg(100).TS // offset 5 has a late clock
		MustAppend(t, s, "r", st.Claim(), msgs)
		if n := MustTrim(t, s, "r", persistence.TrimRequest{UpTo: math.MaxUint64, Before: TSBefore(9), Limit: 100}); n != 4 {
			t.Fatalf("age trim over a young message = %d, want 4 (stop before it)", n)
		}
		checkRetained(t, s, "r", 5, 10, 10)
		if n := MustTrim(t, s, "r", persistence.TrimRequest{UpTo: math.MaxUint64, Before: TSBefore(9), Limit: 100}); n != 0 {
			t.Fatalf("age trim starting at a young message = %d, want 0", n)
		}
	})

	t.Run("TrimByOffsetAndAge", func(t *testing.T) {
		s := open(t)
		Seed(t, s, "r", 30)
		// Both bounds hold: the tighter one decides.
		if n := MustTrim(t, s, "r", persistence.TrimRequest{UpTo: 6, Before: TSBefore(11), Limit: 100}); n != 6 {
			t.Fatalf("Trim(UpTo 6, Before 11) = %d, want 6", n)
		}
		checkRetained(t, s, "r", 7, 30, 30)
		if n := MustTrim(t, s, "r", persistence.TrimRequest{UpTo: 20, Before: TSBefore(11), Limit: 100}); n != 4 {
			t.Fatalf("Trim(UpTo 20, Before 11) = %d, want 4", n)
		}
		checkRetained(t, s, "r", 11, 30, 30)
	})

	t.Run("TrimEdgeCases", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		MustOpenRoom(t, s, "empty")
		Seed(t, s, "r", 5)
		for _, tc := range []struct {
			room string
			req  persistence.TrimRequest
		}{
			{"unknown", persistence.TrimRequest{UpTo: math.MaxUint64, Limit: 10}},
			{"empty", persistence.TrimRequest{UpTo: math.MaxUint64, Limit: 10}},
			{"r", persistence.TrimRequest{UpTo: 0, Limit: 10}}, // zero UpTo matches nothing
			{"r", persistence.TrimRequest{UpTo: 0, Before: TSBefore(1000), Limit: 10}},
			{"r", persistence.TrimRequest{UpTo: math.MaxUint64, Before: TSBefore(1), Limit: 10}},
			{"r", persistence.TrimRequest{UpTo: math.MaxUint64, Before: time.UnixMilli(math.MinInt64 / 2), Limit: 10}},
		} {
			if n, err := s.Trim(ctx, tc.room, tc.req); n != 0 || err != nil {
				t.Errorf("Trim(%s, %+v) = %d, %v; want 0, nil", tc.room, tc.req, n, err)
			}
		}
		for _, lim := range []int{0, -1} {
			if _, err := s.Trim(ctx, "r", persistence.TrimRequest{UpTo: 3, Limit: lim}); !errors.Is(err, persistence.ErrInvalidTrim) {
				t.Errorf("Trim(Limit %d) = %v, want persistence.ErrInvalidTrim", lim, err)
			}
		}
		if _, err := s.LookupRoom(ctx, "unknown"); !errors.Is(err, persistence.ErrNoSuchRoom) {
			t.Errorf("Trim created a room: %v", err)
		}
		if got := MustOldest(t, s, "unknown"); got != 0 {
			t.Errorf("OldestOffset(unknown) = %d, want 0", got)
		}
		checkRetained(t, s, "empty", 1, 0, 0)
		checkRetained(t, s, "r", 1, 5, 5)
		// Deleting a trimmed room and creating it again starts afresh.
		MustTrim(t, s, "r", persistence.TrimRequest{UpTo: 3, Limit: 10})
		if err := s.DeleteRoom(ctx, "r"); err != nil {
			t.Fatal(err)
		}
		checkRetained(t, s, "empty", 1, 0, 0)
		Seed(t, s, "r", 2)
		checkRetained(t, s, "r", 1, 2, 2)
	})

	t.Run("RecentCIDsAfterTrim", func(t *testing.T) {
		s := open(t)
		st := MustOpenRoom(t, s, "r")
		msgs := Batch(1, 10)
		for i := range msgs {
			if i%2 == 0 { // offsets 1, 3, 5, 7, 9
				msgs[i].CID = fmt.Sprintf("cid-%d", msgs[i].Offset)
			}
		}
		MustAppend(t, s, "r", st.Claim(), msgs)
		MustTrim(t, s, "r", persistence.TrimRequest{UpTo: 5, Limit: 100})
		got, err := s.RecentCIDs(t.Context(), "r", 100)
		if err != nil {
			t.Fatal(err)
		}
		var offs []uint64
		for _, e := range got {
			offs = append(offs, e.Offset)
		}
		if !slices.Equal(offs, []uint64{7, 9}) {
			t.Errorf("RecentCIDs after trim = %+v, want offsets 7 and 9", got)
		}
		if got, err := s.RecentCIDs(t.Context(), "r", 3); err != nil || len(got) != 1 || got[0].Offset != 9 {
			t.Errorf("RecentCIDs(window 3) after trim = %+v, %v; want offset 9", got, err)
		}
		MustTrim(t, s, "r", persistence.TrimRequest{UpTo: 10, Limit: 100})
		if got, err := s.RecentCIDs(t.Context(), "r", 100); err != nil || got == nil || len(got) != 0 {
			t.Errorf("RecentCIDs of a trimmed-empty stream = %#v, %v; want empty non-nil", got, err)
		}
	})

	t.Run("TrimBesideAppends", func(t *testing.T) {
		s := open(t)
		st := MustOpenRoom(t, s, "r")
		const batches, per, keep = 40, 5, 10
		ctx := t.Context()
		var wg sync.WaitGroup
		done := make(chan struct{})
		wg.Go(func() {
			defer close(done)
			for b := range batches {
				if err := s.Append(ctx, "r", st.Claim(), Batch(uint64(b*per+1), per)); err != nil {
					t.Errorf("Append batch %d: %v", b, err)
					return
				}
			}
		})
		wg.Go(func() { // a retention runner keeping the latest keep messages
			for {
				select {
				case <-done:
					return
				default:
				}
				info, err := s.LookupRoom(ctx, "r")
				if err != nil {
					t.Errorf("LookupRoom: %v", err)
					return
				}
				if info.LastOffset > keep {
					if _, err := s.Trim(ctx, "r", persistence.TrimRequest{UpTo: info.LastOffset - keep, Limit: 3}); err != nil {
						t.Errorf("Trim: %v", err)
						return
					}
				}
				res, err := s.Read(ctx, "r", persistence.ReadQuery{Limit: 1000})
				if err != nil {
					t.Errorf("Read: %v", err)
					return
				}
				if g := Offsets(res.Messages); len(g) > 0 && !slices.Equal(g, Span(g[0], g[len(g)-1])) {
					t.Errorf("Read beside trims = %v, want a gap-free stream", g)
					return
				}
			}
		})
		wg.Wait()
		MustTrim(t, s, "r", persistence.TrimRequest{UpTo: batches*per - keep, Limit: math.MaxInt})
		checkRetained(t, s, "r", batches*per-keep+1, batches*per, batches*per)
	})

	t.Run("TrimCanceledAndClosed", func(t *testing.T) {
		s := open(t)
		Seed(t, s, "r", 5)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := s.Trim(ctx, "r", persistence.TrimRequest{UpTo: 5, Limit: 10}); !errors.Is(err, context.Canceled) {
			t.Errorf("Trim with canceled context: %v, want context.Canceled", err)
		}
		if _, err := s.OldestOffset(ctx, "r"); !errors.Is(err, context.Canceled) {
			t.Errorf("OldestOffset with canceled context: %v, want context.Canceled", err)
		}
		checkRetained(t, s, "r", 1, 5, 5)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		_, err := s.Trim(t.Context(), "r", persistence.TrimRequest{UpTo: 5, Limit: 10})
		checkClosed(t, "Trim", err)
		_, err = s.OldestOffset(t.Context(), "r")
		checkClosed(t, "OldestOffset", err)
	})
}
