// Package storetest checks implementations of persistence.Store against the
// contract the interface and the persistence package documentation promise.
//
// A store's tests call Run with a function that opens a new, empty store:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) persistence.Store {
//			s := persistence.NewMemory()
//			t.Cleanup(func() { _ = s.Close() })
//			return s
//		})
//	}
//
// The package also exports the small helpers the suite is written with, for
// a store's own tests. Every helper fails the test through t on error.
package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"sync"
	"testing"

	"github.com/troupe-chat/troupe/persistence"
)

// Msg returns a fully populated text message at offset off.
func Msg(off uint64) persistence.Message {
	return persistence.Message{
		ID:       fmt.Sprintf("m_%d", off),
		Offset:   off,
		TS:       1_700_000_000_000 + int64(off),
		FromID:   "u_ann",
		FromName: "Ann",
		Kind:     "text",
		Text:     fmt.Sprintf("hello %d", off),
	}
}

// Batch returns n messages built by Msg with offsets from, from+1, ….
func Batch(from uint64, n int) []persistence.Message {
	out := make([]persistence.Message, n)
	for i := range out {
		out[i] = Msg(from + uint64(i))
	}
	return out
}

// Offsets returns the offsets of msgs.
func Offsets(msgs []persistence.Message) []uint64 {
	out := make([]uint64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Offset
	}
	return out
}

// Span returns the offsets lo..hi inclusive (empty, non-nil when hi < lo).
func Span(lo, hi uint64) []uint64 {
	out := []uint64{}
	for o := lo; o <= hi; o++ {
		out = append(out, o)
	}
	return out
}

// MustOpenRoom opens room or fails the test.
func MustOpenRoom(t testing.TB, s persistence.Store, room string) persistence.RoomState {
	t.Helper()
	st, err := s.OpenRoom(t.Context(), room)
	if err != nil {
		t.Fatalf("OpenRoom(%q): %v", room, err)
	}
	return st
}

// MustAppend appends msgs (at least one) or fails the test.
func MustAppend(t testing.TB, s persistence.Store, room string, c persistence.Claim, msgs []persistence.Message) {
	t.Helper()
	if err := s.Append(t.Context(), room, c, msgs); err != nil {
		t.Fatalf("Append(%q, %d msgs from %d): %v", room, len(msgs), msgs[0].Offset, err)
	}
}

// MustRead reads or fails the test.
func MustRead(t testing.TB, s persistence.Store, room string, q persistence.ReadQuery) persistence.ReadResult {
	t.Helper()
	res, err := s.Read(t.Context(), room, q)
	if err != nil {
		t.Fatalf("Read(%q, %+v): %v", room, q, err)
	}
	return res
}

// MustLookup looks room up or fails the test.
func MustLookup(t testing.TB, s persistence.Store, room string) persistence.RoomInfo {
	t.Helper()
	info, err := s.LookupRoom(t.Context(), room)
	if err != nil {
		t.Fatalf("LookupRoom(%q): %v", room, err)
	}
	return info
}

// Seed opens room and appends messages 1..n (built by Batch) in batches of up
// to 7. It returns the room's state with LastOffset n.
func Seed(t testing.TB, s persistence.Store, room string, n int) persistence.RoomState {
	t.Helper()
	st := MustOpenRoom(t, s, room)
	for off := uint64(1); off <= uint64(n); off += 7 {
		MustAppend(t, s, room, st.Claim(), Batch(off, min(7, n-int(off)+1)))
	}
	st.LastOffset = uint64(n)
	return st
}

// epochRE matches the epochs persistence.NewEpoch returns.
var epochRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

// Run checks that the stores open returns behave as the persistence.Store
// interface and the persistence package documentation promise, each aspect in
// its own subtest. open must return a new, empty store and arrange for it to
// be closed when t ends; it is called once per subtest, and some subtests
// close the store themselves before t ends.
func Run(t *testing.T, open func(t *testing.T) persistence.Store) {
	t.Run("OpenRoomCreatesThenReopens", func(t *testing.T) {
		s := open(t)
		st := MustOpenRoom(t, s, "lobby")
		if !st.Created || st.Room != "lobby" || st.LastOffset != 0 || st.Config != (persistence.RoomConfig{}) {
			t.Fatalf("first OpenRoom = %+v, want created empty room lobby", st)
		}
		if !epochRE.MatchString(st.Epoch) {
			t.Fatalf("epoch %q is not 16 hex chars", st.Epoch)
		}
		again := MustOpenRoom(t, s, "lobby")
		if again.Created || again.Epoch != st.Epoch || again.LastOffset != 0 {
			t.Fatalf("second OpenRoom = %+v, want same epoch %s, not created", again, st.Epoch)
		}
		other := MustOpenRoom(t, s, "other")
		if !other.Created || other.Epoch == st.Epoch {
			t.Fatalf("OpenRoom(other) = %+v, want created with its own epoch", other)
		}
		MustAppend(t, s, "lobby", again.Claim(), Batch(1, 3))
		if got := MustOpenRoom(t, s, "lobby"); got.LastOffset != 3 || got.Epoch != st.Epoch || got.Created {
			t.Fatalf("OpenRoom after append = %+v, want last offset 3", got)
		}
	})

	t.Run("AppendReadRoundTripsEveryField", func(t *testing.T) {
		s := open(t)
		st := MustOpenRoom(t, s, "r")
		want := []persistence.Message{
			{ID: "m_1", Offset: 1, TS: 1, FromID: "u1", FromName: "Ann", Kind: "text", Text: "hi"},
			{ID: "m_2", Offset: 2, TS: -5, FromID: "u2", FromName: "Bö 🎭", Kind: "image",
				Text: "quote ' \" ; -- \x00 nul", Data: []byte(`{"url":"https://x/y.png","w":640}`),
				ReplyTo: "m_1", CID: "c-42"},
			{ID: "m_3", Offset: 3, TS: math.MaxInt64, FromID: "", FromName: "", Kind: "system", Text: ""},
		}
		MustAppend(t, s, "r", st.Claim(), want)
		got := MustRead(t, s, "r", persistence.ReadQuery{Limit: 10})
		if !reflect.DeepEqual(got.Messages, want) || got.More {
			t.Fatalf("Read = %#v\nwant %#v, More false", got, want)
		}
	})

	t.Run("ReadPages", func(t *testing.T) {
		s := open(t)
		Seed(t, s, "r", 25)
		MustOpenRoom(t, s, "empty")
		for _, tc := range []struct {
			room string
			q    persistence.ReadQuery
			want []uint64
			more bool
		}{
			{"r", persistence.ReadQuery{Limit: 10}, Span(16, 25), true},
			{"r", persistence.ReadQuery{Limit: 25}, Span(1, 25), false},
			{"r", persistence.ReadQuery{Limit: 100}, Span(1, 25), false},
			{"r", persistence.ReadQuery{Limit: 1}, Span(25, 25), true},
			{"r", persistence.ReadQuery{Limit: math.MaxInt}, Span(1, 25), false},
			{"r", persistence.ReadQuery{After: 20, Limit: math.MaxInt}, Span(21, 25), false},
			{"r", persistence.ReadQuery{Before: 5, Limit: math.MaxInt}, Span(1, 4), false},
			{"r", persistence.ReadQuery{After: 5, Limit: 10}, Span(6, 15), true},
			{"r", persistence.ReadQuery{After: 15, Limit: 10}, Span(16, 25), false},
			{"r", persistence.ReadQuery{After: 14, Limit: 10}, Span(15, 24), true},
			{"r", persistence.ReadQuery{After: 24, Limit: 10}, Span(25, 25), false},
			{"r", persistence.ReadQuery{After: 25, Limit: 10}, Span(1, 0), false},
			{"r", persistence.ReadQuery{After: 1000, Limit: 10}, Span(1, 0), false},
			{"r", persistence.ReadQuery{After: math.MaxUint64, Limit: 10}, Span(1, 0), false},
			{"r", persistence.ReadQuery{Before: 26, Limit: 10}, Span(16, 25), true},
			{"r", persistence.ReadQuery{Before: 1000, Limit: 5}, Span(21, 25), true},
			{"r", persistence.ReadQuery{Before: math.MaxUint64, Limit: 5}, Span(21, 25), true},
			{"r", persistence.ReadQuery{Before: 12, Limit: 10}, Span(2, 11), true},
			{"r", persistence.ReadQuery{Before: 11, Limit: 10}, Span(1, 10), false},
			{"r", persistence.ReadQuery{Before: 5, Limit: 10}, Span(1, 4), false},
			{"r", persistence.ReadQuery{Before: 2, Limit: 10}, Span(1, 1), false},
			{"r", persistence.ReadQuery{Before: 1, Limit: 10}, Span(1, 0), false},
			{"empty", persistence.ReadQuery{Limit: 10}, Span(1, 0), false},
			{"empty", persistence.ReadQuery{After: 3, Limit: 10}, Span(1, 0), false},
			{"empty", persistence.ReadQuery{Before: 3, Limit: 10}, Span(1, 0), false},
			{"unknown", persistence.ReadQuery{Limit: 10}, Span(1, 0), false},
			{"unknown", persistence.ReadQuery{After: 1, Limit: 10}, Span(1, 0), false},
			{"unknown", persistence.ReadQuery{Before: 9, Limit: 10}, Span(1, 0), false},
		} {
			got := MustRead(t, s, tc.room, tc.q)
			if got.Messages == nil {
				t.Errorf("Read(%s, %+v).Messages is nil, want non-nil", tc.room, tc.q)
			}
			if g := Offsets(got.Messages); !slices.Equal(g, tc.want) || got.More != tc.more {
				t.Errorf("Read(%s, %+v) = offsets %v More %v, want %v More %v", tc.room, tc.q, g, got.More, tc.want, tc.more)
			}
			for _, m := range got.Messages {
				if !reflect.DeepEqual(m, Msg(m.Offset)) {
					t.Errorf("Read(%s, %+v): message %+v, want %+v", tc.room, tc.q, m, Msg(m.Offset))
				}
			}
		}
	})

	t.Run("ReadWalksBothWays", func(t *testing.T) {
		s := open(t)
		Seed(t, s, "r", 23)
		// A client that has seen up to offset 3 catches up page by page.
		fwd := Span(1, 3)
		for {
			page := MustRead(t, s, "r", persistence.ReadQuery{After: fwd[len(fwd)-1], Limit: 5})
			fwd = append(fwd, Offsets(page.Messages)...)
			if !page.More {
				break
			}
		}
		if !slices.Equal(fwd, Span(1, 23)) {
			t.Fatalf("forward walk = %v", fwd)
		}
		// A client scrolls back from the latest page.
		var back []uint64
		page := MustRead(t, s, "r", persistence.ReadQuery{Limit: 5})
		for {
			back = append(slices.Clone(Offsets(page.Messages)), back...)
			if !page.More {
				break
			}
			page = MustRead(t, s, "r", persistence.ReadQuery{Before: page.Messages[0].Offset, Limit: 5})
		}
		if !slices.Equal(back, Span(1, 23)) {
			t.Fatalf("backward walk = %v", back)
		}
	})

	t.Run("ReadRejectsInvalidQuery", func(t *testing.T) {
		s := open(t)
		Seed(t, s, "r", 3)
		for _, q := range []persistence.ReadQuery{{Limit: 0}, {Limit: -1}, {After: 1, Before: 3, Limit: 5}} {
			if _, err := s.Read(t.Context(), "r", q); !errors.Is(err, persistence.ErrInvalidQuery) {
				t.Errorf("Read(%+v) error = %v, want persistence.ErrInvalidQuery", q, err)
			}
		}
	})

	t.Run("AppendRejectsBadOffsetsAtomically", func(t *testing.T) {
		s := open(t)
		st := Seed(t, s, "r", 5)
		for _, tc := range []struct {
			name string
			msgs []persistence.Message
		}{
			{"gap", Batch(7, 3)},
			{"overlap", Batch(5, 3)},
			{"restart", Batch(1, 1)},
			{"zero", []persistence.Message{Msg(0)}},
			{"hole inside", append(Batch(6, 2), Msg(9))},
			{"duplicate inside", append(Batch(6, 3), Msg(8))},
			{"descending", []persistence.Message{Msg(6), Msg(7), Msg(6)}},
		} {
			err := s.Append(t.Context(), "r", st.Claim(), tc.msgs)
			if !errors.Is(err, persistence.ErrOffsetMismatch) {
				t.Errorf("%s: Append error = %v, want persistence.ErrOffsetMismatch", tc.name, err)
			}
			if info := MustLookup(t, s, "r"); info.LastOffset != 5 {
				t.Errorf("%s: last offset %d after rejected append, want 5", tc.name, info.LastOffset)
			}
			if got := Offsets(MustRead(t, s, "r", persistence.ReadQuery{Limit: 100}).Messages); !slices.Equal(got, Span(1, 5)) {
				t.Errorf("%s: stream %v after rejected append, want 1..5", tc.name, got)
			}
		}
		MustAppend(t, s, "r", st.Claim(), Batch(6, 2)) // the stream still continues
	})

	t.Run("AppendChecksRoomAndEpoch", func(t *testing.T) {
		s := open(t)
		if err := s.Append(t.Context(), "nope", persistence.Claim{Epoch: persistence.NewEpoch()}, Batch(1, 1)); !errors.Is(err, persistence.ErrNoSuchRoom) {
			t.Errorf("Append to unknown room: %v, want persistence.ErrNoSuchRoom", err)
		}
		st := MustOpenRoom(t, s, "r")
		if err := s.Append(t.Context(), "r", persistence.Claim{Epoch: persistence.NewEpoch(), Fence: st.Fence}, Batch(1, 1)); !errors.Is(err, persistence.ErrEpochMismatch) {
			t.Errorf("Append with a foreign epoch: %v, want persistence.ErrEpochMismatch", err)
		}
		if err := s.Append(t.Context(), "r", persistence.Claim{Fence: st.Fence}, Batch(1, 1)); !errors.Is(err, persistence.ErrEpochMismatch) {
			t.Errorf("Append with empty epoch: %v, want persistence.ErrEpochMismatch", err)
		}
		if err := s.Append(t.Context(), "r", st.Claim(), nil); err != nil {
			t.Errorf("Append of an empty batch: %v", err)
		}
		if err := s.Append(t.Context(), "r", persistence.Claim{Epoch: persistence.NewEpoch(), Fence: st.Fence}, nil); !errors.Is(err, persistence.ErrEpochMismatch) {
			t.Errorf("Append of an empty batch with a foreign epoch: %v, want persistence.ErrEpochMismatch", err)
		}
		if info := MustLookup(t, s, "r"); info.LastOffset != 0 {
			t.Errorf("last offset %d, want 0", info.LastOffset)
		}
	})

	t.Run("OpenRoomFencesEarlierClaims", func(t *testing.T) {
		s := open(t)
		old := Seed(t, s, "r", 3)
		cur := MustOpenRoom(t, s, "r")
		if cur.Fence <= old.Fence || cur.Epoch != old.Epoch || cur.LastOffset != 3 {
			t.Fatalf("second claim = %+v, want same epoch and stream, fence above %d", cur, old.Fence)
		}
		// The stale owner's batch continues the stream exactly; only the fence is wrong.
		if err := s.Append(t.Context(), "r", old.Claim(), Batch(4, 2)); !errors.Is(err, persistence.ErrFenced) {
			t.Errorf("Append under a superseded claim: %v, want persistence.ErrFenced", err)
		}
		if err := s.Append(t.Context(), "r", old.Claim(), nil); !errors.Is(err, persistence.ErrFenced) {
			t.Errorf("empty Append under a superseded claim: %v, want persistence.ErrFenced", err)
		}
		if err := s.Append(t.Context(), "r", persistence.Claim{Epoch: cur.Epoch, Fence: cur.Fence + 1}, Batch(4, 1)); !errors.Is(err, persistence.ErrFenced) {
			t.Errorf("Append under a fence never handed out: %v, want persistence.ErrFenced", err)
		}
		if info := MustLookup(t, s, "r"); info.LastOffset != 3 {
			t.Fatalf("last offset %d after fenced appends, want 3", info.LastOffset)
		}
		MustAppend(t, s, "r", cur.Claim(), Batch(4, 2)) // the new owner continues where the stream is
		if got := Offsets(MustRead(t, s, "r", persistence.ReadQuery{Limit: 100}).Messages); !slices.Equal(got, Span(1, 5)) {
			t.Errorf("stream %v, want 1..5", got)
		}
		if _, err := s.ConfigureRoom(t.Context(), "r", persistence.RoomConfig{MaxMembers: 9}); err != nil {
			t.Fatalf("ConfigureRoom: %v", err)
		}
		MustAppend(t, s, "r", cur.Claim(), Batch(6, 1)) // configuring is not claiming

		if err := s.DeleteRoom(t.Context(), "r"); err != nil {
			t.Fatalf("DeleteRoom: %v", err)
		}
		if again := MustOpenRoom(t, s, "r"); again.Fence <= cur.Fence {
			t.Errorf("fence after delete and re-create = %d, want above every earlier fence (%d)", again.Fence, cur.Fence)
		}
	})

	t.Run("DeleteThenReopenStartsNewEpoch", func(t *testing.T) {
		s := open(t)
		old := Seed(t, s, "r", 10)
		Seed(t, s, "r2", 4) // a room whose name extends "r" must be untouched
		if err := s.DeleteRoom(t.Context(), "r"); err != nil {
			t.Fatalf("DeleteRoom: %v", err)
		}
		if err := s.Append(t.Context(), "r", old.Claim(), Batch(11, 1)); !errors.Is(err, persistence.ErrNoSuchRoom) {
			t.Errorf("Append to deleted room: %v, want persistence.ErrNoSuchRoom", err)
		}
		if got := MustRead(t, s, "r", persistence.ReadQuery{Limit: 100}); len(got.Messages) != 0 || got.More {
			t.Errorf("Read of deleted room = %v offsets, More %v; want empty", Offsets(got.Messages), got.More)
		}
		st := MustOpenRoom(t, s, "r")
		if !st.Created || st.Epoch == old.Epoch || st.LastOffset != 0 {
			t.Fatalf("OpenRoom after delete = %+v, want created with a new epoch (old %s)", st, old.Epoch)
		}
		if err := s.Append(t.Context(), "r", old.Claim(), Batch(1, 1)); !errors.Is(err, persistence.ErrEpochMismatch) {
			t.Errorf("Append under the old epoch: %v, want persistence.ErrEpochMismatch", err)
		}
		fresh := Batch(1, 2)
		fresh[0].Text, fresh[1].Text = "new 1", "new 2"
		MustAppend(t, s, "r", st.Claim(), fresh)
		if got := MustRead(t, s, "r", persistence.ReadQuery{Limit: 100}); !reflect.DeepEqual(got.Messages, fresh) || got.More {
			t.Errorf("Read after re-creation = %+v, want only the new epoch's messages", got)
		}
		if got := Offsets(MustRead(t, s, "r2", persistence.ReadQuery{Limit: 100}).Messages); !slices.Equal(got, Span(1, 4)) {
			t.Errorf("room r2 = %v, want 1..4", got)
		}
	})

	t.Run("RecentCIDs", func(t *testing.T) {
		s := open(t)
		st := MustOpenRoom(t, s, "r")
		msgs := Batch(1, 10)
		for _, i := range []int{0, 3, 5, 6, 9} { // offsets 1, 4, 6, 7, 10
			msgs[i].CID = fmt.Sprintf("cid-%d", msgs[i].Offset)
			msgs[i].FromID = fmt.Sprintf("u%d", i)
		}
		MustAppend(t, s, "r", st.Claim(), msgs)
		entry := func(off uint64) persistence.DedupEntry {
			m := msgs[off-1]
			return persistence.DedupEntry{UserID: m.FromID, CID: m.CID, MsgID: m.ID, Offset: m.Offset, TS: m.TS}
		}
		for _, tc := range []struct {
			room   string
			window int
			want   []persistence.DedupEntry
		}{
			{"r", 1, []persistence.DedupEntry{entry(10)}},
			{"r", 3, []persistence.DedupEntry{entry(10)}},
			{"r", 4, []persistence.DedupEntry{entry(7), entry(10)}},
			{"r", 5, []persistence.DedupEntry{entry(6), entry(7), entry(10)}},
			{"r", 10, []persistence.DedupEntry{entry(1), entry(4), entry(6), entry(7), entry(10)}},
			{"r", 1000, []persistence.DedupEntry{entry(1), entry(4), entry(6), entry(7), entry(10)}},
			{"r", 0, []persistence.DedupEntry{}},
			{"r", -1, []persistence.DedupEntry{}},
			{"unknown", 10, []persistence.DedupEntry{}},
		} {
			got, err := s.RecentCIDs(t.Context(), tc.room, tc.window)
			if err != nil {
				t.Fatalf("RecentCIDs(%s, %d): %v", tc.room, tc.window, err)
			}
			if got == nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("RecentCIDs(%s, %d) = %#v, want %#v", tc.room, tc.window, got, tc.want)
			}
		}
	})

	t.Run("ConfigureRoom", func(t *testing.T) {
		s := open(t)
		cfg := persistence.RoomConfig{Private: true, PasswordHash: "$2a$10$abcdefghijklmnopqrstuv", MaxMembers: 12}
		created, err := s.ConfigureRoom(t.Context(), "r", cfg)
		if err != nil || !created {
			t.Fatalf("ConfigureRoom(new) = %v, %v; want created", created, err)
		}
		info := MustLookup(t, s, "r")
		if info.Config != cfg || info.LastOffset != 0 || !epochRE.MatchString(info.Epoch) || info.Room != "r" {
			t.Fatalf("LookupRoom after create = %+v", info)
		}
		st := MustOpenRoom(t, s, "r")
		if st.Created || st.Epoch != info.Epoch || st.Config != cfg {
			t.Fatalf("OpenRoom of configured room = %+v, want epoch %s config %+v, not created", st, info.Epoch, cfg)
		}
		MustAppend(t, s, "r", st.Claim(), Batch(1, 3))

		cfg2 := persistence.RoomConfig{MaxMembers: 3}
		created, err = s.ConfigureRoom(t.Context(), "r", cfg2)
		if err != nil || created {
			t.Fatalf("ConfigureRoom(existing) = %v, %v; want not created", created, err)
		}
		if got := MustLookup(t, s, "r"); got.Config != cfg2 || got.Epoch != st.Epoch || got.LastOffset != 3 {
			t.Fatalf("LookupRoom after update = %+v, want config %+v, epoch and stream kept", got, cfg2)
		}
		if got := MustOpenRoom(t, s, "r"); got.Config != cfg2 {
			t.Fatalf("OpenRoom after update: config %+v, want %+v", got.Config, cfg2)
		}

		opened := MustOpenRoom(t, s, "o")
		created, err = s.ConfigureRoom(t.Context(), "o", cfg)
		if err != nil || created {
			t.Fatalf("ConfigureRoom(opened room) = %v, %v; want not created", created, err)
		}
		if got := MustLookup(t, s, "o"); got.Epoch != opened.Epoch || got.Config != cfg {
			t.Fatalf("opened room after configure = %+v", got)
		}
	})

	t.Run("ConfigureRoomNoPresence", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		if st := MustOpenRoom(t, s, "plain"); st.Config.NoPresence {
			t.Fatalf("a room opened without configuration has presence off: %+v", st.Config)
		}
		off := persistence.RoomConfig{NoPresence: true}
		if created, err := s.ConfigureRoom(ctx, "news", off); err != nil || !created {
			t.Fatalf("ConfigureRoom(news, presence off) = %v, %v; want created", created, err)
		}
		if got := MustLookup(t, s, "news"); got.Config != off {
			t.Fatalf("LookupRoom(news) config %+v, want %+v", got.Config, off)
		}
		if got := MustOpenRoom(t, s, "news"); got.Config != off {
			t.Fatalf("OpenRoom(news) config %+v, want %+v", got.Config, off)
		}
		rooms, err := s.ListRooms(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rooms {
			if r.Config.NoPresence != (r.Room == "news") {
				t.Errorf("ListRooms: %s has NoPresence %v", r.Room, r.Config.NoPresence)
			}
		}
		if _, err := s.ConfigureRoom(ctx, "news", persistence.RoomConfig{MaxMembers: 2}); err != nil {
			t.Fatal(err)
		}
		if got := MustLookup(t, s, "news"); got.Config.NoPresence {
			t.Fatalf("presence still off after configuring it on: %+v", got.Config)
		}
	})

	t.Run("LookupListDelete", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		rooms, err := s.ListRooms(ctx)
		if err != nil || rooms == nil || len(rooms) != 0 {
			t.Fatalf("ListRooms of empty store = %#v, %v; want empty non-nil", rooms, err)
		}
		if _, err := s.LookupRoom(ctx, "b"); !errors.Is(err, persistence.ErrNoSuchRoom) {
			t.Fatalf("LookupRoom(unknown) error = %v, want persistence.ErrNoSuchRoom", err)
		}
		if _, err := s.LookupRoom(ctx, "b"); !errors.Is(err, persistence.ErrNoSuchRoom) { // lookup must not create
			t.Fatalf("second LookupRoom(unknown) error = %v, want persistence.ErrNoSuchRoom", err)
		}
		b := Seed(t, s, "b", 2)
		a := MustOpenRoom(t, s, "a")
		cfg := persistence.RoomConfig{Private: true, MaxMembers: 5}
		if _, err := s.ConfigureRoom(ctx, "C", cfg); err != nil {
			t.Fatal(err)
		}
		c := MustLookup(t, s, "C")
		want := []persistence.RoomInfo{
			{Room: "C", Epoch: c.Epoch, Config: cfg},
			{Room: "a", Epoch: a.Epoch},
			{Room: "b", Epoch: b.Epoch, LastOffset: 2},
		}
		if got, err := s.ListRooms(ctx); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("ListRooms = %+v, %v\nwant %+v", got, err, want)
		}
		if got := MustLookup(t, s, "b"); got != want[2] {
			t.Fatalf("LookupRoom(b) = %+v, want %+v", got, want[2])
		}
		if err := s.DeleteRoom(ctx, "a"); err != nil {
			t.Fatalf("DeleteRoom(a): %v", err)
		}
		if err := s.DeleteRoom(ctx, "a"); !errors.Is(err, persistence.ErrNoSuchRoom) {
			t.Fatalf("second DeleteRoom(a) = %v, want persistence.ErrNoSuchRoom", err)
		}
		if err := s.DeleteRoom(ctx, "zzz"); !errors.Is(err, persistence.ErrNoSuchRoom) {
			t.Fatalf("DeleteRoom(unknown) = %v, want persistence.ErrNoSuchRoom", err)
		}
		if _, err := s.LookupRoom(ctx, "a"); !errors.Is(err, persistence.ErrNoSuchRoom) {
			t.Fatalf("LookupRoom(deleted) = %v, want persistence.ErrNoSuchRoom", err)
		}
		if got, err := s.ListRooms(ctx); err != nil || !reflect.DeepEqual(got, []persistence.RoomInfo{want[0], want[2]}) {
			t.Fatalf("ListRooms after delete = %+v, %v", got, err)
		}
	})

	t.Run("DataNilVersusJSON", func(t *testing.T) {
		s := open(t)
		st := MustOpenRoom(t, s, "r")
		msgs := Batch(1, 5)
		msgs[0].Data = nil
		msgs[1].Data = []byte(`{"k":[1,2,{"x":null}],"s":"é"}`)
		msgs[2].Data = []byte{} // empty: stored as absent
		msgs[3].Data = []byte(`null`)
		msgs[4].Data = []byte(`"x"`)
		in := slices.Clone(msgs)
		in[1].Data = slices.Clone(msgs[1].Data)
		MustAppend(t, s, "r", st.Claim(), in)
		in[1].Data[0] = '!' // the store must have kept its own copy

		got := MustRead(t, s, "r", persistence.ReadQuery{Limit: 10}).Messages
		wantData := [][]byte{nil, msgs[1].Data, nil, []byte(`null`), []byte(`"x"`)}
		for i, m := range got {
			if !reflect.DeepEqual(m.Data, wantData[i]) {
				t.Errorf("offset %d: Data = %#v (%q), want %#v", m.Offset, m.Data, m.Data, wantData[i])
			}
		}
		got[1].Data[0] = '!' // nor may a reader's modification reach the store
		if again := MustRead(t, s, "r", persistence.ReadQuery{After: 1, Limit: 1}).Messages; string(again[0].Data) != string(msgs[1].Data) {
			t.Errorf("Data after modifying a read copy = %q, want %q", again[0].Data, msgs[1].Data)
		}
	})

	t.Run("ConcurrentAppendsToDifferentRooms", func(t *testing.T) {
		s := open(t)
		const rooms, batches, per = 8, 25, 4
		claims := make([]persistence.Claim, rooms)
		for i := range rooms {
			claims[i] = MustOpenRoom(t, s, fmt.Sprintf("room-%d", i)).Claim()
		}
		ctx := t.Context()
		var wg sync.WaitGroup
		for i := range rooms {
			room := fmt.Sprintf("room-%d", i)
			wg.Go(func() { // the room's single writer
				for b := range batches {
					if err := s.Append(ctx, room, claims[i], Batch(uint64(b*per+1), per)); err != nil {
						t.Errorf("Append(%s, batch %d): %v", room, b, err)
						return
					}
				}
			})
			wg.Go(func() { // a concurrent reader sees whole batches, gap-free
				for range batches {
					res, err := s.Read(ctx, room, persistence.ReadQuery{Limit: 1000})
					if err != nil {
						t.Errorf("Read(%s): %v", room, err)
						return
					}
					got := Offsets(res.Messages)
					if len(got)%per != 0 || !slices.Equal(got, Span(1, uint64(len(got)))) {
						t.Errorf("Read(%s) mid-stream = %v, want 1..n in whole batches", room, got)
						return
					}
				}
			})
		}
		wg.Go(func() {
			for range batches {
				if _, err := s.ListRooms(ctx); err != nil {
					t.Errorf("ListRooms: %v", err)
					return
				}
			}
		})
		wg.Wait()
		for i := range rooms {
			room := fmt.Sprintf("room-%d", i)
			if info := MustLookup(t, s, room); info.LastOffset != batches*per || info.Epoch != claims[i].Epoch {
				t.Errorf("%s after concurrent appends = %+v, want last offset %d", room, info, batches*per)
			}
			if got := Offsets(MustRead(t, s, room, persistence.ReadQuery{Limit: 1000}).Messages); !slices.Equal(got, Span(1, batches*per)) {
				t.Errorf("%s stream = %v", room, got)
			}
		}
	})

	t.Run("ConcurrentOpenRoomCreatesOnce", func(t *testing.T) {
		s := open(t)
		const n = 16
		states := make([]persistence.RoomState, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { states[i], errs[i] = s.OpenRoom(t.Context(), "shared") })
		}
		wg.Wait()
		created := 0
		fences := map[uint64]bool{}
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("OpenRoom: %v", errs[i])
			}
			if states[i].Created {
				created++
			}
			if states[i].Epoch != states[0].Epoch {
				t.Fatalf("epochs differ: %s vs %s", states[i].Epoch, states[0].Epoch)
			}
			fences[states[i].Fence] = true
		}
		if len(fences) != n {
			t.Errorf("%d concurrent claims got %d distinct fences, want %d", n, len(fences), n)
		}
		latest := slices.MaxFunc(states, func(a, b persistence.RoomState) int { return cmp.Compare(a.Fence, b.Fence) })
		for _, st := range states {
			err := s.Append(t.Context(), "shared", st.Claim(), nil)
			if st.Fence == latest.Fence && err != nil {
				t.Errorf("Append under the latest claim: %v", err)
			}
			if st.Fence != latest.Fence && !errors.Is(err, persistence.ErrFenced) {
				t.Errorf("Append under superseded fence %d (latest %d): %v, want persistence.ErrFenced", st.Fence, latest.Fence, err)
			}
		}
		if created != 1 {
			t.Fatalf("%d of %d concurrent OpenRoom calls report Created, want exactly 1", created, n)
		}
	})

	t.Run("CanceledContext", func(t *testing.T) {
		s := open(t)
		st := Seed(t, s, "r", 2)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := s.Append(ctx, "r", st.Claim(), Batch(3, 1)); !errors.Is(err, context.Canceled) {
			t.Errorf("Append with canceled context: %v, want context.Canceled", err)
		}
		if _, err := s.Read(ctx, "r", persistence.ReadQuery{Limit: 5}); !errors.Is(err, context.Canceled) {
			t.Errorf("Read with canceled context: %v, want context.Canceled", err)
		}
		if _, err := s.OpenRoom(ctx, "new"); !errors.Is(err, context.Canceled) {
			t.Errorf("OpenRoom with canceled context: %v, want context.Canceled", err)
		}
		if _, err := s.LookupRoom(t.Context(), "new"); !errors.Is(err, persistence.ErrNoSuchRoom) {
			t.Errorf("room created by a canceled OpenRoom: %v", err)
		}
		if info := MustLookup(t, s, "r"); info.LastOffset != 2 {
			t.Errorf("last offset %d after canceled append, want 2", info.LastOffset)
		}
	})

	t.Run("PingAndClose", func(t *testing.T) {
		s := open(t)
		st := Seed(t, s, "r", 1)
		if err := s.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		ctx := t.Context()
		for name, err := range map[string]error{
			"Ping":   s.Ping(ctx),
			"Append": s.Append(ctx, "r", st.Claim(), Batch(2, 1)),
			"Delete": s.DeleteRoom(ctx, "r"),
		} {
			if !errors.Is(err, persistence.ErrClosed) {
				t.Errorf("%s after Close: %v, want persistence.ErrClosed", name, err)
			}
		}
		_, err := s.OpenRoom(ctx, "r")
		checkClosed(t, "OpenRoom", err)
		_, err = s.Read(ctx, "r", persistence.ReadQuery{Limit: 1})
		checkClosed(t, "Read", err)
		_, err = s.RecentCIDs(ctx, "r", 5)
		checkClosed(t, "RecentCIDs", err)
		_, err = s.ConfigureRoom(ctx, "r", persistence.RoomConfig{})
		checkClosed(t, "ConfigureRoom", err)
		_, err = s.LookupRoom(ctx, "r")
		checkClosed(t, "LookupRoom", err)
		_, err = s.ListRooms(ctx)
		checkClosed(t, "ListRooms", err)
	})

	runTrim(t, open)
	runSessions(t, open)
	runLeases(t, open)
	runDocs(t, open)
}

// checkClosed reports an error unless err wraps persistence.ErrClosed.
func checkClosed(t *testing.T, op string, err error) {
	t.Helper()
	if !errors.Is(err, persistence.ErrClosed) {
		t.Errorf("%s after Close: %v, want persistence.ErrClosed", op, err)
	}
}
