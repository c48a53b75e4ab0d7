package persistence_test

import (
	"slices"
	"testing"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/storetest"
)

// TestMemoryRetention checks that Memory keeps only the latest MemoryRetention
// messages of a room while offsets keep counting.
func TestMemoryRetention(t *testing.T) {
	s := persistence.NewMemory()
	st := storetest.MustOpenRoom(t, s, "r")
	const total = persistence.MemoryRetention + 50
	for off := uint64(1); off <= total; off += 100 {
		storetest.MustAppend(t, s, "r", st.Claim(), storetest.Batch(off, min(100, total-int(off)+1)))
	}
	const first = total - persistence.MemoryRetention + 1 // oldest retained offset: 51

	if info := storetest.MustLookup(t, s, "r"); info.LastOffset != total {
		t.Fatalf("last offset %d, want %d", info.LastOffset, total)
	}
	if n := persistence.RetainedLen(s, "r"); n != persistence.MemoryRetention {
		t.Fatalf("room holds %d messages, want %d", n, persistence.MemoryRetention)
	}
	for _, tc := range []struct {
		q    persistence.ReadQuery
		want []uint64
		more bool
	}{
		{persistence.ReadQuery{Limit: 2 * persistence.MemoryRetention}, storetest.Span(first, total), false},
		{persistence.ReadQuery{Limit: 3}, storetest.Span(total-2, total), true},
		{persistence.ReadQuery{After: 10, Limit: 5}, storetest.Span(first, first+4), true},
		{persistence.ReadQuery{After: first - 1, Limit: 5}, storetest.Span(first, first+4), true},
		{persistence.ReadQuery{After: total - 2, Limit: 5}, storetest.Span(total-1, total), false},
		{persistence.ReadQuery{Before: first + 9, Limit: 100}, storetest.Span(first, first+8), false},
		{persistence.ReadQuery{Before: first + 9, Limit: 3}, storetest.Span(first+6, first+8), true},
		{persistence.ReadQuery{Before: first, Limit: 100}, storetest.Span(1, 0), false},
		{persistence.ReadQuery{Before: 10, Limit: 100}, storetest.Span(1, 0), false},
	} {
		got := storetest.MustRead(t, s, "r", tc.q)
		if g := storetest.Offsets(got.Messages); !slices.Equal(g, tc.want) || got.More != tc.more {
			t.Errorf("Read(%+v) = %d msgs [%v…] More %v, want %d msgs More %v",
				tc.q, len(g), g[:min(len(g), 3)], got.More, len(tc.want), tc.more)
		}
	}

	// Appending continues the stream past the retention window.
	storetest.MustAppend(t, s, "r", st.Claim(), storetest.Batch(total+1, 1))
	if got := storetest.MustRead(t, s, "r", persistence.ReadQuery{Limit: 1}).Messages; got[0].Offset != total+1 {
		t.Fatalf("latest offset %d, want %d", got[0].Offset, total+1)
	}
}

// TestMemoryRetentionSingleBatch checks retention when one batch alone
// exceeds MemoryRetention.
func TestMemoryRetentionSingleBatch(t *testing.T) {
	s := persistence.NewMemory()
	st := storetest.MustOpenRoom(t, s, "r")
	st2 := storetest.MustOpenRoom(t, s, "other")
	storetest.MustAppend(t, s, "other", st2.Claim(), storetest.Batch(1, 3))
	storetest.MustAppend(t, s, "r", st.Claim(), storetest.Batch(1, persistence.MemoryRetention+5))
	got := storetest.MustRead(t, s, "r", persistence.ReadQuery{Limit: 2 * persistence.MemoryRetention})
	if len(got.Messages) != persistence.MemoryRetention || got.Messages[0].Offset != 6 || got.More {
		t.Fatalf("Read = %d msgs from %d More %v, want %d from 6", len(got.Messages), got.Messages[0].Offset, got.More, persistence.MemoryRetention)
	}
	if got := storetest.Offsets(storetest.MustRead(t, s, "other", persistence.ReadQuery{Limit: 10}).Messages); !slices.Equal(got, storetest.Span(1, 3)) {
		t.Fatalf("other room = %v, want 1..3", got)
	}
}
