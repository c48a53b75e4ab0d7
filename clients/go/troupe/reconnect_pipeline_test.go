package troupe_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/clients/go/troupe"
	"github.com/troupe-chat/troupe/transport/auth"
)

// assertPipelined checks that dial wrote its hello and then one join per
// room before it read any frame, and returns the frames from its first
// reply on.
func assertPipelined(t *testing.T, fd *faultDialer, dial int32, rooms int) []string {
	t.Helper()
	frames := fd.frames(dial)
	firstIn := slices.IndexFunc(frames, func(f string) bool { return strings.HasPrefix(f, "in:") })
	want := []string{"out:hello"}
	for range rooms {
		want = append(want, "out:join")
	}
	if firstIn < 0 || !slices.Equal(frames[:firstIn], want) {
		t.Fatalf("dial %d wrote %v before its first reply, want hello and %d joins: %v", dial, frames[:max(firstIn, 0)], rooms, frames)
	}
	return frames[firstIn:]
}

// TestReconnectPipelinesRejoins drops a client in 8 rooms while messages go
// on in each: the reconnect writes its hello and all 8 joins before it reads
// the welcome (one round trip), and every missed message comes back once.
func TestReconnectPipelinesRejoins(t *testing.T) {
	srv, url := startServer(t)
	ctx := testCtx(t)
	rooms := []string{"p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"}
	alice, _ := dial(t, url, troupe.Options{Name: "alice"})
	fd := &faultDialer{gate: make(chan struct{})}
	bob, bobEv := dial(t, url, troupe.Options{Name: "bob", DialContext: fd.DialContext})
	for _, room := range rooms {
		for _, c := range []*troupe.Client{bob, alice} {
			if _, err := c.Join(ctx, room); err != nil {
				t.Fatal(err)
			}
		}
	}
	if first := fd.frames(1); len(first) < 3 || !slices.Equal(first[:3], []string{"out:hello", "in:welcome", "out:join"}) {
		t.Errorf("the first connection's frames %v, want hello, welcome, then the joins", first)
	}

	fd.holdIn.Store(int32(1 + len(rooms)))
	killConns(t, srv, bob, alice) // every connection
	await[troupe.ReconnectingEvent](t, bobEv, "bob's drop", nil)
	for _, room := range rooms {
		for i := 1; i <= 3; i++ {
			if _, err := alice.Send(ctx, room, troupe.Message{Text: fmt.Sprintf("%s-%d", room, i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(fd.gate)

	sum := await[troupe.RecoveredEvent](t, bobEv, "bob's rooms recovered", nil)
	if !slices.Equal(sum.Rooms, rooms) || len(sum.Gaps) != 0 || len(sum.Failed) != 0 {
		t.Fatalf("recovered %+v, want every room whole", sum)
	}
	replies := assertPipelined(t, fd, 2, len(rooms))
	if replies[0] != "in:welcome" {
		t.Errorf("the first reply is %s, want the welcome: %v", replies[0], replies)
	}
	if n := countOf(fd.frames(2), "out:join"); n != len(rooms) {
		t.Errorf("the reconnect sent %d joins, want one per room", n)
	}
	if n := countOf(replies, "in:joined"); n != len(rooms) {
		t.Errorf("the reconnect read %d joined, want one per room", n)
	}
	evs := bobEv.snapshot()
	for _, room := range rooms {
		got := messages(evs, room)
		if !slices.Equal(offsetsOf(got), seq(3)) {
			t.Fatalf("%s: bob got offsets %v, want 1..3 once each", room, offsetsOf(got))
		}
		for i, m := range got {
			if m.Text != fmt.Sprintf("%s-%d", room, i+1) || !m.Replayed {
				t.Errorf("%s: message %d is %q (replayed %v), want %s-%d replayed", room, i+1, m.Text, m.Replayed, room, i+1)
			}
		}
	}
	if fd.dials.Load() != 2 {
		t.Errorf("bob dialed %d times, want 2", fd.dials.Load())
	}
	// The connected event comes before any recovery.
	var order []string
	for _, ev := range evs {
		switch e := ev.(type) {
		case troupe.ConnectedEvent:
			if e.Reconnect {
				order = append(order, "connected")
			}
		case troupe.RecoveryEvent:
			if len(order) == 0 {
				order = append(order, "recovery before connected")
			}
		}
	}
	if len(order) == 0 || order[0] != "connected" {
		t.Errorf("event order %v, want the reconnect's connected event first", order)
	}
}

// TestPipelinedRejoinsAfterARefusedHello refuses a reconnect's hello (the
// user is at its connection limit): the joins written behind it fail with
// it, no room is given up, and the next attempt rejoins and recovers.
func TestPipelinedRejoinsAfterARefusedHello(t *testing.T) {
	const secret = "pipeline-secret"
	srv, url := startServer(t, "--jwt-secret", secret, "--max-conns-per-user", "1")
	ctx := testCtx(t)
	token := func(sub string) string {
		tok, err := auth.SignHS256([]byte(secret), actors.Claims{Subject: sub})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	rooms := []string{"q0", "q1", "q2"}
	alice, _ := dial(t, url, troupe.Options{Token: token("alice")})
	fd := &faultDialer{gate: make(chan struct{})}
	bob, bobEv := dial(t, url, troupe.Options{Token: token("bob"), DialContext: fd.DialContext})
	for _, room := range rooms {
		for _, c := range []*troupe.Client{bob, alice} {
			if _, err := c.Join(ctx, room); err != nil {
				t.Fatal(err)
			}
		}
	}
	fd.holdIn.Store(int32(1 + len(rooms)))
	killConns(t, srv, bob, alice) // every connection
	await[troupe.ReconnectingEvent](t, bobEv, "bob's drop", func(e troupe.ReconnectingEvent) bool { return e.Attempt == 1 })
	for _, room := range rooms {
		if _, err := alice.Send(ctx, room, troupe.Message{Text: room + "-1"}); err != nil {
			t.Fatal(err)
		}
	}
	// Bob's only connection slot is taken while his reconnect waits.
	var occupant *troupe.Client
	for occupant == nil {
		o, err := troupe.Dial(ctx, troupe.Options{URL: url, Token: token("bob")})
		switch {
		case err == nil:
			occupant = o
		case troupe.ErrorCode(err) != troupe.CodeLimitExceeded || ctx.Err() != nil:
			t.Fatalf("occupant: %v", err)
		}
	}
	fd.gate <- struct{}{} // one attempt: its hello is refused
	refused := await[troupe.ReconnectingEvent](t, bobEv, "the refused attempt", func(e troupe.ReconnectingEvent) bool { return e.Attempt == 2 })
	if troupe.ErrorCode(refused.Err) != troupe.CodeLimitExceeded {
		t.Errorf("the attempt failed with %v, want limit_exceeded", refused.Err)
	}
	replies := assertPipelined(t, fd, 2, len(rooms))
	if replies[0] != "in:error" || slices.Contains(replies, "in:joined") {
		t.Errorf("the refused attempt read %v, want the hello's error and no joined", replies)
	}
	if err := occupant.Close(); err != nil {
		t.Fatal(err)
	}
	close(fd.gate)

	sum := await[troupe.RecoveredEvent](t, bobEv, "bob's rooms recovered", nil)
	if !slices.Equal(sum.Rooms, rooms) || len(sum.Gaps) != 0 || len(sum.Failed) != 0 {
		t.Fatalf("recovered %+v, want every room whole", sum)
	}
	last := fd.dials.Load()
	if replies := assertPipelined(t, fd, last, len(rooms)); replies[0] != "in:welcome" {
		t.Errorf("dial %d's first reply is %s, want the welcome", last, replies[0])
	}
	evs := bobEv.snapshot()
	for _, ev := range evs {
		if e, ok := ev.(troupe.RejoinFailedEvent); ok {
			t.Errorf("the refused hello cost a room: %+v", e)
		}
	}
	for _, room := range rooms {
		got := messages(evs, room)
		if len(got) != 1 || got[0].Offset != 1 || got[0].Text != room+"-1" || !got[0].Replayed {
			t.Errorf("%s: bob got %+v, want %s-1 once, replayed", room, got, room)
		}
	}
	if !slices.Equal(bob.JoinedRooms(), rooms) {
		t.Errorf("bob tracks %v, want %v", bob.JoinedRooms(), rooms)
	}
}

// countOf counts the frames equal to f.
func countOf(frames []string, f string) int {
	n := 0
	for _, x := range frames {
		if x == f {
			n++
		}
	}
	return n
}
