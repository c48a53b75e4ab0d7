package postgres

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/pgtest"
	"github.com/troupe-chat/troupe/persistence/storetest"
)

// openInternal opens a store on a new database of the shared server, closed
// on cleanup. (TestMain, in the external test package, runs pgtest.Main.)
func openInternal(t *testing.T, opts ...Option) *Store {
	t.Helper()
	s, err := Open(t.Context(), pgtest.Shared(t).NewDatabase(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestGroupCommitIsolatesEachRoom commits six rooms' batches in one group:
// the room with a wrong epoch, the fenced room and the room whose insert
// collides with a row written behind the store's back fail alone (the last
// only in the savepoint fallback, which takes back its rows), the room whose
// request was cancelled is skipped, the others are stored.
func TestGroupCommitIsolatesEachRoom(t *testing.T) {
	s := openInternal(t)
	ctx := t.Context()
	claims := map[string]persistence.Claim{}
	for _, room := range []string{"a", "b", "c", "d", "e", "f"} {
		claims[room] = storetest.MustOpenRoom(t, s, room).Claim()
	}
	stale := claims["f"]
	storetest.MustOpenRoom(t, s, "f") // f's claim is superseded
	if _, err := s.pool.Exec(ctx, `INSERT INTO messages (room, epoch, "offset", id, ts, from_id, from_name, kind, text)
		VALUES ('e', $1, 2, 'm_x', 1, 'u', 'U', 'text', 'planted')`, claims["e"].Epoch); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	req := func(c context.Context, room string, claim persistence.Claim) *appendReq {
		return &appendReq{Ctx: c, Item: roomBatch{room: room, claim: claim, msgs: storetest.Batch(1, 3)}}
	}
	wrongEpoch := claims["b"]
	wrongEpoch.Epoch = "not-" + wrongEpoch.Epoch
	group := []*appendReq{
		req(ctx, "e", claims["e"]),
		req(ctx, "a", claims["a"]),
		req(ctx, "b", wrongEpoch),
		req(cancelled, "c", claims["c"]),
		req(ctx, "d", claims["d"]),
		req(ctx, "f", stale),
	}
	s.commitGroup(ctx, group)
	if group[1].Err != nil || group[4].Err != nil {
		t.Fatalf("good batches failed: %v, %v", group[1].Err, group[4].Err)
	}
	if !errors.Is(group[2].Err, persistence.ErrEpochMismatch) {
		t.Errorf("wrong epoch: got %v", group[2].Err)
	}
	if !errors.Is(group[3].Err, context.Canceled) {
		t.Errorf("cancelled request: got %v", group[3].Err)
	}
	if !errors.Is(group[5].Err, persistence.ErrFenced) {
		t.Errorf("stale claim: got %v", group[5].Err)
	}
	if group[0].Err == nil {
		t.Error("a batch colliding with a stored row must fail")
	}
	for room, want := range map[string]int{"a": 3, "b": 0, "c": 0, "d": 3, "e": 1, "f": 0} { // e: only the planted row
		if got := len(storetest.MustRead(t, s, room, persistence.ReadQuery{Limit: 10}).Messages); got != want {
			t.Errorf("room %s holds %d messages, want %d", room, got, want)
		}
		if want != 1 {
			if info := storetest.MustLookup(t, s, room); info.LastOffset != uint64(want) {
				t.Errorf("room %s last offset %d, want %d", room, info.LastOffset, want)
			}
		}
	}
}

// TestGroupCommitChainsBatchesOfOneRoom puts two consecutive batches of one
// room, and a batch of an unknown room, in one group: both batches are
// stored, in order, in the one-transaction path.
func TestGroupCommitChainsBatchesOfOneRoom(t *testing.T) {
	s := openInternal(t)
	ctx := t.Context()
	c := storetest.MustOpenRoom(t, s, "r").Claim()
	group := []*appendReq{
		{Ctx: ctx, Item: roomBatch{room: "r", claim: c, msgs: storetest.Batch(1, 2)}},
		{Ctx: ctx, Item: roomBatch{room: "nope", claim: c, msgs: storetest.Batch(1, 2)}},
		{Ctx: ctx, Item: roomBatch{room: "r", claim: c, msgs: storetest.Batch(3, 2)}},
	}
	s.commitGroup(ctx, group)
	if group[0].Err != nil || group[2].Err != nil || !errors.Is(group[1].Err, persistence.ErrNoSuchRoom) {
		t.Fatalf("outcomes %v, %v, %v", group[0].Err, group[1].Err, group[2].Err)
	}
	if info := storetest.MustLookup(t, s, "r"); info.LastOffset != 4 {
		t.Fatalf("last offset %d, want 4", info.LastOffset)
	}
}

// TestConcurrentAppendsAreAllStored has many rooms append at once, so
// transactions are shared, by one leader and by several (see
// storetest.ConcurrentAppends).
func TestConcurrentAppendsAreAllStored(t *testing.T) {
	for _, committers := range []int{1, 4} {
		t.Run(fmt.Sprintf("committers=%d", committers), func(t *testing.T) {
			storetest.ConcurrentAppends(t, openInternal(t, WithCommitters(committers)))
		})
	}
}
