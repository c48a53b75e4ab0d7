package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/troupe-chat/troupe/persistence"
)

// ReopenKeepsEverything fills a store, closes it and opens its data again
// (open opens the same file or database each time): epochs, offsets,
// fences, messages, client ids, configuration and deletions persist, and
// claims from before the reopen are superseded.
func ReopenKeepsEverything(t *testing.T, open func() (persistence.Store, error)) {
	t.Helper()
	ctx := t.Context()
	s, err := open()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	lobby := Seed(t, s, "lobby", 30)
	data := Batch(31, 1)
	data[0].Data, data[0].CID, data[0].ReplyTo = []byte(`{"a":1}`), "c1", "m_2"
	MustAppend(t, s, "lobby", lobby.Claim(), data)
	cfg := persistence.RoomConfig{Private: true, PasswordHash: "$2a$10$hash", MaxMembers: 7, NoPresence: true}
	if _, err := s.ConfigureRoom(ctx, "secret", cfg); err != nil {
		t.Fatal(err)
	}
	Seed(t, s, "gone", 3)
	if err := s.DeleteRoom(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	wantRooms, err := s.ListRooms(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantMsgs := MustRead(t, s, "lobby", persistence.ReadQuery{Limit: 100}).Messages
	wantCIDs, err := s.RecentCIDs(ctx, "lobby", 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := open()
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() {
		if err := s2.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if got, err := s2.ListRooms(ctx); err != nil || !reflect.DeepEqual(got, wantRooms) {
		t.Fatalf("ListRooms after reopen = %+v, %v\nwant %+v", got, err, wantRooms)
	}
	if got := MustRead(t, s2, "lobby", persistence.ReadQuery{Limit: 100}).Messages; !reflect.DeepEqual(got, wantMsgs) || len(got) != 31 {
		t.Fatalf("messages after reopen differ:\n%+v\nwant %+v", got, wantMsgs)
	}
	if got, err := s2.RecentCIDs(ctx, "lobby", 10); err != nil || !reflect.DeepEqual(got, wantCIDs) || len(got) != 1 {
		t.Fatalf("RecentCIDs after reopen = %+v, %v; want %+v", got, err, wantCIDs)
	}
	st := MustOpenRoom(t, s2, "lobby")
	if st.Created || st.Epoch != lobby.Epoch || st.LastOffset != 31 || st.Fence <= lobby.Fence {
		t.Fatalf("lobby after reopen = %+v, want epoch %s, last offset 31, fence > %d", st, lobby.Epoch, lobby.Fence)
	}
	if got := MustOpenRoom(t, s2, "secret"); got.Created || got.Config != cfg {
		t.Fatalf("configured room after reopen = %+v", got)
	}
	if _, err := s2.LookupRoom(ctx, "gone"); !errors.Is(err, persistence.ErrNoSuchRoom) {
		t.Fatalf("deleted room after reopen: %v", err)
	}
	if gone := MustOpenRoom(t, s2, "gone"); !gone.Created || gone.LastOffset != 0 {
		t.Fatalf("deleted room after reopen = %+v, want created anew", gone)
	}
	if err := s2.Append(ctx, "lobby", lobby.Claim(), Batch(32, 1)); err == nil {
		t.Fatal("the claim from before the reopen is still accepted")
	}
	MustAppend(t, s2, "lobby", st.Claim(), Batch(32, 2))
	if err := s2.Append(ctx, "lobby", st.Claim(), Batch(32, 1)); !errors.Is(err, persistence.ErrOffsetMismatch) {
		t.Fatalf("overlapping append after reopen: %v", err)
	}
}

// ConcurrentAppends has 40 rooms of s append 25 batches of 2 each at once
// (so a store that groups commits shares them) and checks every stream is
// whole and in order.
func ConcurrentAppends(t *testing.T, s persistence.Store) {
	t.Helper()
	ctx := t.Context()
	const rooms, batches, per = 40, 25, 2
	var wg sync.WaitGroup
	for i := range rooms {
		room := fmt.Sprintf("r%d", i)
		st := MustOpenRoom(t, s, room)
		wg.Go(func() {
			for b := range batches {
				if err := s.Append(ctx, room, st.Claim(), Batch(uint64(b*per+1), per)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i := range rooms {
		room := fmt.Sprintf("r%d", i)
		got := Offsets(MustRead(t, s, room, persistence.ReadQuery{Limit: 1000}).Messages)
		if len(got) != batches*per {
			t.Fatalf("room %s holds %d messages, want %d", room, len(got), batches*per)
		}
		for j, off := range got {
			if off != uint64(j+1) {
				t.Fatalf("room %s: offset %d at position %d", room, off, j)
			}
		}
	}
}
