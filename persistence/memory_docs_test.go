package persistence_test

import (
	"testing"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/storetest"
)

// TestMemoryRetentionKeepsUncoveredDocUpdates checks that the memory
// store's cap drops a prefix that stops at the first document update no
// snapshot covers, and drops down to the cap once a snapshot covers it.
func TestMemoryRetentionKeepsUncoveredDocUpdates(t *testing.T) {
	s := persistence.NewMemory()
	st := storetest.MustOpenRoom(t, s, "r")
	const total = persistence.MemoryRetention + 50
	for off := uint64(1); off <= total; off += 100 {
		storetest.MustAppend(t, s, "r", st.Claim(), storetest.MixedBatch(off, min(100, total-int(off)+1), 10))
	}
	if got := storetest.MustOldest(t, s, "r"); got != 10 {
		t.Fatalf("oldest retained offset = %d, want 10 (the uncovered doc update)", got)
	}
	if n := persistence.RetainedLen(s, "r"); n != total-9 {
		t.Fatalf("room holds %d messages, want %d (over the cap)", n, total-9)
	}
	storetest.MustSaveSnapshot(t, s, "r", st.Claim(), persistence.Snapshot{Offset: 10, Data: []byte("s")})
	storetest.MustAppend(t, s, "r", st.Claim(), storetest.Batch(total+1, 1))
	if n := persistence.RetainedLen(s, "r"); n != persistence.MemoryRetention {
		t.Fatalf("room holds %d messages after a covering snapshot, want the cap %d", n, persistence.MemoryRetention)
	}
	if got := storetest.MustOldest(t, s, "r"); got != total+1-persistence.MemoryRetention+1 {
		t.Fatalf("oldest retained offset = %d, want %d", got, total+1-persistence.MemoryRetention+1)
	}
}
