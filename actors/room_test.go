package actors

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/faults"
)

// Room actor tests on the kit (kit_test.go): one room, probe members, the
// memory store and the fake clock.

func quickPresence(c *Config) { c.PresenceInterval = 0 }

func TestRoomStoresThenAcksThenBroadcasts(t *testing.T) {
	k := newKit(t, quickPresence)
	ann, bob := k.member("ann"), k.member("bob")
	if j := ann.join("r"); j.Offset != 0 || j.Epoch == "" || len(j.Messages) != 0 {
		t.Fatalf("first join = %+v", j)
	}
	if j := bob.join("r"); len(j.Members) != 2 {
		t.Fatalf("second join lists %v, want both users", j.Members)
	}
	id := ann.send("r", "hello", "c1")
	ack := skipTo[Ack](ann)
	if ack.ID != id || ack.Offset != 1 || ack.Dup || ack.Room != "r" {
		t.Fatalf("ack = %+v", ack)
	}
	if got := k.stored("r"); !slices.Equal(got, []string{"1:hello"}) {
		t.Fatalf("stored %v when acked, want 1:hello", got)
	}
	push := skipTo[MessagePush](bob)
	if push.Msg.Offset != 1 || push.Msg.Text != "hello" || push.Msg.FromName != "ann" || push.Msg.ID != ack.MsgID {
		t.Fatalf("bob got %+v, want the acked message %s", push.Msg, ack.MsgID)
	}
	// The sender gets an ack, not its own message back.
	ann.sync("r")
	for _, f := range ann.pending() {
		if _, ok := f.(MessagePush); ok {
			t.Fatalf("the sender got its own message: %+v", f)
		}
	}
	// A retry under the same client id is acked as a duplicate, not stored again.
	ann.send("r", "hello", "c1")
	if dup := skipTo[Ack](ann); !dup.Dup || dup.Offset != 1 {
		t.Fatalf("retry = %+v, want a dup ack of offset 1", dup)
	}
	if got := k.stored("r"); len(got) != 1 {
		t.Fatalf("stored %v after a retry, want one message", got)
	}
}

// TestRoomRetriesTheStoreOnTheClock fails the store under a send: nothing is
// acked or broadcast while it fails, the room schedules its retry on the
// engine's clock, and once the store heals the retry stores, acks and
// broadcasts the message once.
func TestRoomRetriesTheStoreOnTheClock(t *testing.T) {
	k := newKit(t, quickPresence)
	ann, bob := k.member("ann"), k.member("bob")
	ann.join("r")
	bob.join("r")
	base := k.clock.Now()
	hit := k.store.Inject(faults.Fail)
	ann.send("r", "x", "c1")
	select {
	case <-hit:
	case <-time.After(kitWait):
		t.Fatal("the room never called the store")
	}
	ann.sync("r")
	for _, f := range ann.pending() {
		if _, ok := f.(Ack); ok {
			t.Fatalf("acked while the store fails: %+v", f)
		}
	}
	k.store.Heal()
	// The retry runs on the fake clock (50 ms, then doubling): nothing
	// happens in real time until the clock moves.
	deadline := time.Now().Add(kitWait)
	for acked := false; !acked; {
		k.clock.Advance(50 * time.Millisecond)
		ann.sync("r")
		for _, f := range ann.pending() {
			_, ok := f.(Ack)
			acked = acked || ok
		}
		if !acked && time.Now().After(deadline) {
			t.Fatalf("no ack after healing and advancing the clock %s", k.clock.Since(base))
		}
	}
	if got := k.stored("r"); !slices.Equal(got, []string{"1:x"}) {
		t.Fatalf("stored %v, want 1:x once", got)
	}
	if push := skipTo[MessagePush](bob); push.Msg.Offset != 1 {
		t.Fatalf("bob got %+v", push)
	}
}

// TestRoomPresenceGraceRunsOnTheClock drops a member's connection: the user
// stays present for the session grace and leaves when the fake clock passes
// it, with one presence_diff to the others.
func TestRoomPresenceGraceRunsOnTheClock(t *testing.T) {
	k := newKit(t, quickPresence)
	ann, bob := k.member("ann"), k.member("bob")
	ann.join("r")
	bob.join("r")
	skipTo[PresenceDiff](ann) // bob joined
	bob.Close(1006, "dropped")
	// The room arms the grace timer as it drops bob's connection (then
	// publishes its stats); nothing tells ann.
	eventually(t, "the room drops bob's connection", func() bool {
		rooms := k.eng.Rooms()
		return len(rooms) == 1 && rooms[0].Connections == 1
	})
	p := requestOf[PresenceReply](ann, func(id int64) Command { return PresenceQuery{ID: id, Room: "r"} })
	if len(p.Members) != 2 {
		t.Fatalf("presence right after bob's drop = %+v, want bob still present (grace)", p.Members)
	}
	k.clock.Advance(DefaultConfig().SessionGrace - time.Millisecond)
	ann.sync("r")
	for _, f := range ann.pending() {
		if _, ok := f.(PresenceDiff); ok {
			t.Fatalf("presence diff before the grace ended: %+v", f)
		}
	}
	k.clock.Advance(time.Millisecond)
	diff := skipTo[PresenceDiff](ann)
	if len(diff.Leaves) != 1 || diff.Leaves[0].Name != "bob" || len(diff.Joins) != 0 {
		t.Fatalf("diff = %+v, want bob leaving", diff)
	}
}

// TestRoomRetiresWhenIdleOnTheClock has the last member leave: the room
// stops after the idle timeout of the fake clock, and a later join starts it
// again from the store with its stream intact.
func TestRoomRetiresWhenIdleOnTheClock(t *testing.T) {
	k := newKit(t, quickPresence)
	ann := k.member("ann")
	ann.join("r")
	ann.send("r", "kept", "")
	skipTo[Ack](ann)
	requestOf[Left](ann, func(id int64) Command { return Leave{ID: id, Room: "r"} })
	if len(k.eng.Rooms()) != 1 {
		t.Fatalf("rooms right after the leave: %+v", k.eng.Rooms())
	}
	k.clock.Advance(DefaultConfig().RoomIdleTimeout)
	eventually(t, "the idle room retires", func() bool { return len(k.eng.Rooms()) == 0 })
	j := ann.join("r")
	if j.Offset != 1 || len(j.Messages) != 1 || j.Messages[0].Text != "kept" {
		t.Fatalf("join after retirement = %+v, want the stored stream", j)
	}
}

// TestRoomFencedByANewerClaimStopsWithoutAcking claims the room in the store
// behind the room's back: its next append is refused, the send is answered
// unavailable and never acked, members hear room_closed "moved", and a new
// join claims the room again and takes the retry.
func TestRoomFencedByANewerClaimStopsWithoutAcking(t *testing.T) {
	k := newKit(t, quickPresence)
	ann, bob := k.member("ann"), k.member("bob")
	ann.join("r")
	bob.join("r")
	if _, err := k.mem.OpenRoom(context.Background(), "r"); err != nil {
		t.Fatal(err)
	}
	id := ann.send("r", "lost?", "c1")
	for {
		f := ann.next()
		if a, ok := f.(Ack); ok {
			t.Fatalf("acked under a superseded claim: %+v", a)
		}
		if e, ok := f.(ErrorFrame); ok && e.ID == id {
			if e.Code != CodeUnavailable {
				t.Fatalf("error = %+v, want unavailable", e)
			}
			break
		}
	}
	for _, p := range []*probe{ann, bob} {
		if c := skipTo[RoomClosed](p); c.Reason != "moved" {
			t.Fatalf("%s: %+v, want room_closed moved", p.name, c)
		}
	}
	if got := k.stored("r"); len(got) != 0 {
		t.Fatalf("stored %v under a superseded claim", got)
	}
	ann.join("r")
	ann.send("r", "lost?", "c1")
	if a := skipTo[Ack](ann); a.Offset != 1 || a.Dup {
		t.Fatalf("retry after rejoining = %+v, want a fresh ack at 1", a)
	}
	if got := k.stored("r"); !slices.Equal(got, []string{"1:lost?"}) {
		t.Fatalf("stored %v", got)
	}
}

// TestRoomChecksPasswordsOffItsGoroutine: a password room answers a wrong
// password with wrong_password and a right one with joined, the bcrypt check
// running beside the room (owned by the engine, so goleak sees it end), and a
// private room refuses a join without the right.
func TestRoomChecksPasswordsOffItsGoroutine(t *testing.T) {
	k := newKit(t, quickPresence)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.eng.ConfigureRoom(t.Context(), "vault", persistence.RoomConfig{PasswordHash: string(hash)}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.eng.ConfigureRoom(t.Context(), "club", persistence.RoomConfig{Private: true}); err != nil {
		t.Fatal(err)
	}
	ann := k.member("ann")
	for _, tc := range []struct{ room, password, code string }{
		{"vault", "", CodeUnauthorized},
		{"vault", "guess", CodeWrongPassword},
		{"club", "", CodeUnauthorized},
	} {
		e := requestOf[ErrorFrame](ann, func(id int64) Command { return Join{ID: id, Room: tc.room, Password: tc.password, History: -1} })
		if e.Code != tc.code {
			t.Errorf("join %s with %q: %+v, want %s", tc.room, tc.password, e, tc.code)
		}
	}
	if j := requestOf[Joined](ann, func(id int64) Command { return Join{ID: id, Room: "vault", Password: "s3cret", History: -1} }); j.Room != "vault" {
		t.Fatalf("join with the password = %+v", j)
	}
}

// TestRoomHistoryPagesFromTheOldestRetained trims a room's stored history
// (retention): a forward page from the start begins at the oldest message
// kept, and paging backwards ends there with more false.
func TestRoomHistoryPagesFromTheOldestRetained(t *testing.T) {
	k := newKit(t, func(c *Config) { c.PresenceInterval, c.RecoveryLimit = 0, 5 })
	ann := k.member("ann")
	ann.join("r")
	for i := 1; i <= 30; i++ {
		ann.send("r", fmt.Sprint("m", i), "")
		skipTo[Ack](ann)
	}
	if n, err := k.mem.Trim(t.Context(), "r", persistence.TrimRequest{UpTo: 20, Limit: 100}); err != nil || n != 20 {
		t.Fatalf("Trim = %d, %v; want 20 trimmed", n, err)
	}
	page := func(q HistoryQuery) HistoryReply {
		t.Helper()
		return requestOf[HistoryReply](ann, func(id int64) Command { q.ID, q.Room = id, "r"; return q })
	}
	for _, tc := range []struct {
		name string
		q    HistoryQuery
		want []uint64
		more bool
	}{
		{"from the start", HistoryQuery{Forward: true, Limit: 4}, []uint64{21, 22, 23, 24}, true},
		{"from the start, all", HistoryQuery{Forward: true, Limit: 50}, storeSpan(21, 30), false},
		{"forward after a trimmed offset", HistoryQuery{Forward: true, After: 3, Limit: 2}, []uint64{21, 22}, true},
		{"backwards to the oldest", HistoryQuery{Before: 24, Limit: 10}, []uint64{21, 22, 23}, false},
		{"latest", HistoryQuery{Limit: 3}, []uint64{28, 29, 30}, true},
	} {
		h := page(tc.q)
		if !slices.Equal(offsets(h.Msgs), tc.want) || h.More != tc.more {
			t.Errorf("%s: %v more %v, want %v more %v", tc.name, offsets(h.Msgs), h.More, tc.want, tc.more)
		}
	}
}

func storeSpan(lo, hi uint64) []uint64 {
	var out []uint64
	for o := lo; o <= hi; o++ {
		out = append(out, o)
	}
	return out
}
