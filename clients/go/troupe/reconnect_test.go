package troupe_test

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/clients/go/troupe"
	"github.com/troupe-chat/troupe/transport/auth"
)

// offsetsOf returns the offsets of msgs.
func offsetsOf(msgs []troupe.MessageEvent) []uint64 {
	out := make([]uint64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Offset
	}
	return out
}

// seq returns 1..n.
func seq(n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(i + 1)
	}
	return out
}

// TestSendExactlyOnceWhenTheAckIsLost cuts the sender's connection as the
// ack arrives: the message is stored but the client never saw the ack. The
// client reconnects, rejoins, resends the same cid and gets the original
// ack back as a dup; the receiver sees the message once.
func TestSendExactlyOnceWhenTheAckIsLost(t *testing.T) {
	_, url := startServer(t)
	ctx := testCtx(t)
	fd := &faultDialer{}
	alice, aliceEv := dial(t, url, troupe.Options{Name: "alice", DialContext: fd.DialContext})
	bob, bobEv := dial(t, url, troupe.Options{Name: "bob"})
	for _, c := range []*troupe.Client{alice, bob} {
		if _, err := c.Join(ctx, "room"); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 3; i++ {
		if _, err := alice.Send(ctx, "room", troupe.Message{Text: strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}

	fd.killAck.Store(true)
	ack, err := alice.Send(ctx, "room", troupe.Message{Text: "4"})
	if err != nil {
		t.Fatal(err)
	}
	if !ack.Dup || ack.Offset != 4 || ack.Attempts < 2 {
		t.Errorf("ack after the lost one = %+v, want the original offset 4 as a dup", ack)
	}
	if fd.dials.Load() != 2 {
		t.Errorf("alice dialed %d times, want 2", fd.dials.Load())
	}
	rec := await[troupe.RecoveryEvent](t, aliceEv, "alice's recovery", nil)
	if !rec.Recovered || rec.From != 3 || rec.To != 4 {
		t.Errorf("alice's recovery %+v, want from 3 to 4, complete", rec)
	}
	await[troupe.RecoveredEvent](t, aliceEv, "alice recovered", func(e troupe.RecoveredEvent) bool {
		return slices.Equal(e.Rooms, []string{"room"}) && len(e.Gaps) == 0
	})

	if _, err := alice.Send(ctx, "room", troupe.Message{Text: "5"}); err != nil {
		t.Fatal(err)
	}
	evs := bobEv.until(t, "5 messages at bob", func(evs []troupe.Event) bool { return len(messages(evs, "room")) >= 5 })
	got := messages(evs, "room")
	if !slices.Equal(offsetsOf(got), seq(5)) {
		t.Fatalf("bob got offsets %v, want 1..5 once each", offsetsOf(got))
	}
	for i, m := range got {
		if m.Text != strconv.Itoa(i+1) {
			t.Errorf("bob's message %d is %q", i+1, m.Text)
		}
	}
	page, err := bob.History(ctx, "room", troupe.HistoryQuery{})
	if err != nil || len(page.Messages) != 5 {
		t.Errorf("history holds %d messages (%v), want 5: stored exactly once", len(page.Messages), err)
	}
}

// TestRecoveryAcrossKilledConnections crashes every connection actor twice
// while a sender is publishing. Both clients reconnect; the sender's retries
// and the receiver's since-recovery leave the receiver with every message
// once, in order.
func TestRecoveryAcrossKilledConnections(t *testing.T) {
	srv, url := startServer(t)
	ctx := testCtx(t)
	alice, _ := dial(t, url, troupe.Options{Name: "alice"})
	bob, bobEv := dial(t, url, troupe.Options{Name: "bob"})
	for _, c := range []*troupe.Client{alice, bob} {
		if _, err := c.Join(ctx, "stream"); err != nil {
			t.Fatal(err)
		}
	}

	const n = 60
	acks := make(chan troupe.Ack, n)
	failed := make(chan error, 1)
	go func() {
		for i := 1; i <= n; i++ {
			ack, err := alice.Send(ctx, "stream", troupe.Message{Text: strconv.Itoa(i)})
			if err != nil {
				failed <- err
				return
			}
			acks <- ack
		}
	}()
	for _, at := range []int{10, 35} {
		bobEv.until(t, fmt.Sprintf("%d messages", at), func(evs []troupe.Event) bool { return len(messages(evs, "stream")) >= at })
		if killed := srv.Engine().KillConns(100); killed == 0 {
			t.Fatal("KillConns crashed no connection")
		}
	}
	seen := map[uint64]bool{}
	for range n {
		select {
		case ack := <-acks:
			if seen[ack.Offset] {
				t.Errorf("offset %d acked twice", ack.Offset)
			}
			seen[ack.Offset] = true
		case err := <-failed:
			t.Fatalf("send: %v", err)
		}
	}
	evs := bobEv.until(t, "every message", func(evs []troupe.Event) bool { return len(messages(evs, "stream")) >= n })
	got := messages(evs, "stream")
	if !slices.Equal(offsetsOf(got), seq(n)) {
		t.Fatalf("bob got offsets %v, want 1..%d once each, in order", offsetsOf(got), n)
	}
	for i, m := range got {
		if m.Text != strconv.Itoa(i+1) {
			t.Fatalf("offset %d holds %q, want %d: a message was stored twice or lost", m.Offset, m.Text, i+1)
		}
	}
	drop := await[troupe.ReconnectingEvent](t, bobEv, "bob reconnecting", nil)
	if drop.Code != troupe.CloseInternal {
		t.Errorf("bob's connection ended with %d (%v), want 1011", drop.Code, drop.Err)
	}
	rec := await[troupe.RecoveryEvent](t, bobEv, "bob's recovery", nil)
	if !rec.Recovered || rec.EpochChanged {
		t.Errorf("bob's recovery %+v, want complete", rec)
	}
	if c := await[troupe.ConnectedEvent](t, bobEv, "bob reconnected", func(e troupe.ConnectedEvent) bool { return e.Reconnect }); !c.Resumed {
		t.Errorf("bob's reconnect %+v, want the session resumed", c)
	}
	if len(bob.JoinedRooms()) != 1 {
		t.Errorf("bob tracks %v after reconnects, want [stream]", bob.JoinedRooms())
	}
}

// TestRoomRestart crashes the room actor under a stream of sends: sends that
// meet the restart get unavailable and are retried; members get the
// room_restarted notice and every message once.
func TestRoomRestart(t *testing.T) {
	srv, url := startServer(t)
	ctx := testCtx(t)
	alice, _ := dial(t, url, troupe.Options{Name: "alice"})
	bob, bobEv := dial(t, url, troupe.Options{Name: "bob"})
	for _, c := range []*troupe.Client{alice, bob} {
		if _, err := c.Join(ctx, "fragile"); err != nil {
			t.Fatal(err)
		}
	}
	const n = 30
	done := make(chan error, 1)
	go func() {
		for i := 1; i <= n; i++ {
			if _, err := alice.Send(ctx, "fragile", troupe.Message{Text: strconv.Itoa(i)}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	bobEv.until(t, "5 messages", func(evs []troupe.Event) bool { return len(messages(evs, "fragile")) >= 5 })
	if !srv.Engine().CrashRoom("fragile") {
		t.Fatal("CrashRoom found no room")
	}
	if err := <-done; err != nil {
		t.Fatalf("send across a room restart: %v", err)
	}
	sys := await[troupe.SystemEvent](t, bobEv, "room_restarted", nil)
	if sys.Room != "fragile" || sys.Event != "room_restarted" {
		t.Errorf("system event %+v", sys)
	}
	evs := bobEv.until(t, "every message", func(evs []troupe.Event) bool { return len(messages(evs, "fragile")) >= n })
	if got := offsetsOf(messages(evs, "fragile")); !slices.Equal(got, seq(n)) {
		t.Errorf("bob got offsets %v, want 1..%d", got, n)
	}
}

// TestNoReconnectAfterPolicyClose: the first connection is crashed (1011)
// and the reconnect's hello never reaches the server, which closes with 1008
// at its hello deadline. The client does not try again: 1008 needs new
// credentials.
func TestNoReconnectAfterPolicyClose(t *testing.T) {
	srv, url := startServer(t, "--hello-timeout", "200ms")
	ctx := testCtx(t)
	fd := &faultDialer{}
	c, rec := dial(t, url, troupe.Options{Name: "mallory", DialContext: fd.DialContext})
	fd.dropFrames("hello")
	killConns(t, srv, c)

	closed := await[troupe.ClosedEvent](t, rec, "closed", nil)
	if closed.Code != troupe.ClosePolicy {
		t.Errorf("closed with %d (%v), want 1008", closed.Code, closed.Err)
	}
	var attempts []int
	for _, ev := range rec.snapshot() {
		if r, ok := ev.(troupe.ReconnectingEvent); ok {
			attempts = append(attempts, r.Code)
		}
	}
	if !slices.Equal(attempts, []int{troupe.CloseInternal}) {
		t.Errorf("reconnect attempts after codes %v, want one, after 1011", attempts)
	}
	if n := fd.dials.Load(); n != 2 {
		t.Errorf("dialed %d times, want 2", n)
	}
	if err := c.Err(); !errors.Is(err, troupe.ErrClosed) || troupe.CloseCode(err) != troupe.ClosePolicy {
		t.Errorf("Err() = %v, want ErrClosed with 1008", err)
	}
	if _, err := c.Ping(ctx); !errors.Is(err, troupe.ErrClosed) {
		t.Errorf("ping after the close = %v, want ErrClosed", err)
	}
}

// TestTokenExpiry: a client whose token expires is closed with 4003 and
// stays closed; a client that refreshed its token in time (SetToken) stays
// connected past the old expiry.
func TestTokenExpiry(t *testing.T) {
	const secret = "expiry-secret"
	_, url := startServer(t, "--jwt-secret", secret, "--token-leeway", "1ms")
	ctx := testCtx(t)
	token := func(sub string, exp time.Time) string {
		tok, err := auth.SignHS256([]byte(secret), actors.Claims{Subject: sub, Expires: exp})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// Whole seconds, as JWTs carry them: the refreshing client's old token
	// expires a second before the other one's.
	early := time.Now().Truncate(time.Second).Add(2 * time.Second)
	late := early.Add(time.Second)
	fd := &faultDialer{}
	expiring, expiringEv := dial(t, url, troupe.Options{Token: token("exp", late), DialContext: fd.DialContext})
	refreshed, refreshedEv := dial(t, url, troupe.Options{Token: token("ref", early)})

	if err := refreshed.SetToken(ctx, "garbage"); troupe.ErrorCode(err) != troupe.CodeUnauthorized {
		t.Errorf("SetToken(garbage) = %v, want unauthorized", err)
	}
	if err := refreshed.SetToken(ctx, token("ref", time.Time{})); err != nil {
		t.Fatalf("SetToken: %v", err)
	}

	closed := await[troupe.ClosedEvent](t, expiringEv, "expiry", nil)
	if closed.Code != troupe.CloseTokenExpired {
		t.Errorf("closed with %d (%v), want 4003", closed.Code, closed.Err)
	}
	if n := fd.dials.Load(); n != 1 {
		t.Errorf("the expired client dialed %d times, want 1", n)
	}
	// The refreshed token's old expiry passed a second before this point.
	if _, err := refreshed.Ping(ctx); err != nil {
		t.Errorf("the refreshed client: ping = %v", err)
	}
	for _, ev := range refreshedEv.snapshot() {
		switch ev.(type) {
		case troupe.ReconnectingEvent, troupe.ClosedEvent:
			t.Errorf("the refreshed client lost its connection: %+v", ev)
		}
	}
	if expiring.Connected() {
		t.Error("the expired client says it is connected")
	}
}

// TestBadTokenIsNotRetried: a hello with an invalid token is refused with
// unauthorized, and Dial reports it without retrying.
func TestBadTokenIsNotRetried(t *testing.T) {
	_, url := startServer(t, "--jwt-secret", "x")
	fd := &faultDialer{}
	_, err := troupe.Dial(testCtx(t), troupe.Options{URL: url, Token: "not-a-jwt", DialContext: fd.DialContext})
	if troupe.ErrorCode(err) != troupe.CodeUnauthorized {
		t.Fatalf("dial with a bad token = %v, want unauthorized", err)
	}
	if n := fd.dials.Load(); n != 1 {
		t.Errorf("dialed %d times, want 1", n)
	}
}

// TestTakeoverStopsTheOldClient: a second client resuming the first one's
// session takes it over; the first is closed with 4004 and stays closed.
func TestTakeoverStopsTheOldClient(t *testing.T) {
	_, url := startServer(t)
	first, firstEv := dial(t, url, troupe.Options{Name: "tab"})
	second, secondEv := dial(t, url, troupe.Options{Name: "tab", Session: first.Session()})

	if c := await[troupe.ConnectedEvent](t, secondEv, "second connected", nil); !c.Resumed || second.User().ID != first.User().ID {
		t.Errorf("second client %+v as %s, want %s's session resumed", c, second.User().ID, first.User().ID)
	}
	closed := await[troupe.ClosedEvent](t, firstEv, "first closed", nil)
	if closed.Code != troupe.CloseTakenOver {
		t.Errorf("first closed with %d (%v), want 4004", closed.Code, closed.Err)
	}
	if evs := firstEv.snapshot(); len(evs) == 0 || evs[len(evs)-1] != troupe.Event(closed) {
		t.Errorf("ClosedEvent is not the last event: %v", evs)
	}
}

// TestReconnectAtConnectionLimit: with --max-conns 1, a reconnect that finds
// the slot taken is closed with 1013 and the client keeps trying until the
// slot is free again.
func TestReconnectAtConnectionLimit(t *testing.T) {
	srv, url := startServer(t, "--max-conns", "1")
	ctx := testCtx(t)
	fd := &faultDialer{gate: make(chan struct{})}
	c, rec := dial(t, url, troupe.Options{Name: "alice", DialContext: fd.DialContext})
	if _, err := c.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	killConns(t, srv, c)
	await[troupe.ReconnectingEvent](t, rec, "the drop", func(e troupe.ReconnectingEvent) bool { return e.Attempt == 1 })

	// While alice's reconnect waits at the gate, another client takes the
	// only slot (once the server has released alice's).
	var occupant *troupe.Client
	for occupant == nil {
		o, err := troupe.Dial(ctx, troupe.Options{URL: url, Name: "occupant"})
		switch {
		case err == nil:
			occupant = o
		case troupe.CloseCode(err) != troupe.CloseTryAgainLater || ctx.Err() != nil:
			t.Fatalf("occupant: %v", err)
		}
	}
	fd.gate <- struct{}{} // one attempt: refused with 1013
	refused := await[troupe.ReconnectingEvent](t, rec, "a 1013 refusal", func(e troupe.ReconnectingEvent) bool { return e.Attempt == 2 })
	if refused.Code != troupe.CloseTryAgainLater {
		t.Errorf("the attempt at the limit failed with %d (%v), want 1013", refused.Code, refused.Err)
	}
	if err := occupant.Close(); err != nil {
		t.Fatal(err)
	}
	close(fd.gate) // let every further attempt through
	back := await[troupe.ConnectedEvent](t, rec, "reconnected", func(e troupe.ConnectedEvent) bool { return e.Reconnect })
	if !back.Resumed {
		t.Errorf("reconnect %+v, want the session resumed", back)
	}
	await[troupe.RecoveredEvent](t, rec, "rooms recovered", func(e troupe.RecoveredEvent) bool { return slices.Equal(e.Rooms, []string{"r"}) })
	if _, err := c.Send(ctx, "r", troupe.Message{Text: "back"}); err != nil {
		t.Errorf("send after reconnecting: %v", err)
	}
}

// TestEventOverflowRecovers blocks the event handler so the client's queue
// fills: the client drops its connection rather than block its reader or
// grow without bound, and after the handler catches up, recovery delivers
// every message once and in order.
func TestEventOverflowRecovers(t *testing.T) {
	_, url := startServer(t)
	ctx := testCtx(t)
	fd := &faultDialer{}
	release := make(chan struct{})
	rec := newRecorder()
	first := true
	bob, err := troupe.Dial(ctx, troupe.Options{
		URL: url, Name: "bob", Reconnect: fastReconnect, DialContext: fd.DialContext, MaxQueuedEvents: 4,
		OnEvent: func(ev troupe.Event) {
			rec.on(ev)
			if _, ok := ev.(troupe.MessageEvent); ok && first {
				first = false
				<-release
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := bob.Close(); err != nil {
			t.Error(err)
		}
		<-bob.Done()
	})
	alice, _ := dial(t, url, troupe.Options{Name: "alice"})
	for _, c := range []*troupe.Client{alice, bob} {
		if _, err := c.Join(ctx, "busy"); err != nil {
			t.Fatal(err)
		}
	}
	const n = 40
	for i := 1; i <= n; i++ {
		if _, err := alice.Send(ctx, "busy", troupe.Message{Text: strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	// bob's handler still holds message 1, so the overflow happened; bob
	// recovers once the handler is released.
	close(release)
	evs := rec.until(t, "every message", func(evs []troupe.Event) bool { return len(messages(evs, "busy")) >= n })
	if got := offsetsOf(messages(evs, "busy")); !slices.Equal(got, seq(n)) {
		t.Errorf("bob got offsets %v, want 1..%d", got, n)
	}
	r := await[troupe.ReconnectingEvent](t, rec, "the overflow", nil)
	if !errors.Is(r.Err, troupe.ErrEventOverflow) {
		t.Errorf("dropped for %v, want ErrEventOverflow", r.Err)
	}
	if fd.dials.Load() < 2 {
		t.Errorf("bob dialed %d times, want a reconnect", fd.dials.Load())
	}
}

// TestRoomClosed: a room that crashes beyond its restart budget is closed;
// the client reports it, stops tracking it, and a send gets not_joined.
func TestRoomClosed(t *testing.T) {
	srv, url := startServer(t, "--room-restarts", "1")
	ctx := testCtx(t)
	c, rec := dial(t, url, troupe.Options{Name: "bob"})
	if _, err := c.Join(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	if !srv.Engine().CrashRoom("doomed") {
		t.Fatal("CrashRoom found no room")
	}
	await[troupe.SystemEvent](t, rec, "the restart", func(e troupe.SystemEvent) bool { return e.Event == "room_restarted" })
	if !srv.Engine().CrashRoom("doomed") {
		t.Fatal("CrashRoom found no room after its restart")
	}
	closed := await[troupe.RoomClosedEvent](t, rec, "room_closed", nil)
	if closed.Room != "doomed" || closed.Reason != "crashed" {
		t.Errorf("room closed %+v, want doomed crashed", closed)
	}
	if rooms := c.JoinedRooms(); len(rooms) != 0 {
		t.Errorf("still tracking %v", rooms)
	}
	if _, err := c.Send(ctx, "doomed", troupe.Message{Text: "anyone?"}); troupe.ErrorCode(err) != troupe.CodeNotJoined {
		t.Errorf("send to the closed room = %v, want not_joined", err)
	}
}
