package sqlite

import (
	"context"
	"errors"
	"testing"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/storetest"
)

// TestGroupCommitIsolatesEachRoom commits five rooms' batches in one
// transaction: the room with a wrong epoch and the room whose insert fails
// half-way fail alone (the savepoint takes back the rows already inserted),
// the room whose request was cancelled is skipped, the others are stored.
func TestGroupCommitIsolatesEachRoom(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	claims := map[string]persistence.Claim{}
	for _, room := range []string{"a", "b", "c", "d"} {
		st, err := s.OpenRoom(ctx, room)
		if err != nil {
			t.Fatal(err)
		}
		claims[room] = st.Claim()
	}
	// Room e's batch fails half-way: its second row collides with one
	// written behind the store's back, after the first row was inserted.
	if _, err := s.OpenRoom(ctx, "e"); err != nil {
		t.Fatal(err)
	}
	stE, err := s.OpenRoom(ctx, "e")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO messages (room, "offset", id, ts, from_id, from_name, kind, text)
		VALUES ('e', 2, 'm_x', 1, 'u', 'U', 'text', 'planted')`); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	req := func(c context.Context, room string, claim persistence.Claim) *appendReq {
		return &appendReq{Ctx: c, Item: roomBatch{room: room, claim: claim, msgs: storetest.Batch(1, 3)}}
	}
	wrongEpoch := claims["b"]
	wrongEpoch.Epoch = "not-" + wrongEpoch.Epoch
	batch := []*appendReq{
		req(ctx, "a", claims["a"]),
		req(ctx, "b", wrongEpoch),
		req(cancelled, "c", claims["c"]),
		req(ctx, "d", claims["d"]),
		req(ctx, "e", stE.Claim()),
	}
	s.commitGroup(ctx, batch)
	if batch[0].Err != nil || batch[3].Err != nil {
		t.Fatalf("good batches failed: %v, %v", batch[0].Err, batch[3].Err)
	}
	if !errors.Is(batch[1].Err, persistence.ErrEpochMismatch) {
		t.Fatalf("wrong epoch: got %v", batch[1].Err)
	}
	if !errors.Is(batch[2].Err, context.Canceled) {
		t.Fatalf("cancelled request: got %v", batch[2].Err)
	}
	if batch[4].Err == nil {
		t.Fatal("a batch colliding with a stored row must fail")
	}
	for room, want := range map[string]int{"a": 3, "b": 0, "c": 0, "d": 3, "e": 1} { // e: only the planted row
		res, err := s.Read(ctx, room, persistence.ReadQuery{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Messages) != want {
			t.Errorf("room %s holds %d messages, want %d", room, len(res.Messages), want)
		}
	}
}

// TestConcurrentAppendsAreAllStored has many rooms append at once, so
// transactions are shared (see storetest.ConcurrentAppends).
func TestConcurrentAppendsAreAllStored(t *testing.T) {
	storetest.ConcurrentAppends(t, openTest(t))
}
