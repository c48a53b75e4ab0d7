package troupe_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/clients/go/troupe"
)

// TestConversation covers the request/reply and push paths between two
// clients: hello, join, send/ack, message, presence, typing, direct,
// history, ping.
func TestConversation(t *testing.T) {
	_, url := startServer(t)
	ctx := testCtx(t)
	alice, aliceEv := dial(t, url, troupe.Options{Name: "alice"})
	bob, bobEv := dial(t, url, troupe.Options{Name: "bob"})

	welcome := await[troupe.ConnectedEvent](t, aliceEv, "alice connected", nil)
	if welcome.User.Name != "alice" || welcome.Session == "" || welcome.Reconnect {
		t.Errorf("alice's ConnectedEvent = %+v", welcome)
	}
	if _, err := alice.Join(ctx, "general"); err != nil {
		t.Fatal(err)
	}
	joined, err := bob.Join(ctx, "general")
	if err != nil {
		t.Fatal(err)
	}
	if len(joined.Members) != 2 || joined.Epoch == "" || joined.Offset != 0 {
		t.Errorf("bob joined %+v, want 2 members of an empty room", joined)
	}
	diff := await[troupe.PresenceEvent](t, aliceEv, "bob's presence", nil)
	if len(diff.Joins) != 1 || diff.Joins[0].ID != bob.User().ID {
		t.Errorf("presence diff %+v, want bob joining", diff)
	}

	ack, err := alice.Send(ctx, "general", troupe.Message{Text: "hi bob", Kind: "note", Data: json.RawMessage(`{"k":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	if ack.Offset != 1 || ack.MsgID == "" || ack.Dup || ack.Attempts != 1 || ack.CID == "" || ack.TS == 0 {
		t.Errorf("ack %+v, want offset 1, fresh", ack)
	}
	got := await[troupe.MessageEvent](t, bobEv, "alice's message", nil)
	if got.ID != ack.MsgID || got.Offset != 1 || got.TS != ack.TS || got.Text != "hi bob" || got.Kind != "note" ||
		string(got.Data) != `{"k":1}` || got.From.ID != alice.User().ID || got.Epoch != joined.Epoch || got.Replayed {
		t.Errorf("bob got %+v, want alice's message as acked %+v", got, ack)
	}

	back, err := bob.Send(ctx, "general", troupe.Message{Text: "hi alice", ReplyTo: ack.MsgID})
	if err != nil {
		t.Fatal(err)
	}
	reply := await[troupe.MessageEvent](t, aliceEv, "bob's reply", nil)
	if reply.Offset != back.Offset || reply.ReplyTo != ack.MsgID {
		t.Errorf("alice's first message event %+v, want bob's reply at %d (never her own)", reply, back.Offset)
	}

	if err := bob.Typing(ctx, "general", true); err != nil {
		t.Fatal(err)
	}
	typing := await[troupe.TypingEvent](t, aliceEv, "bob typing", nil)
	if !typing.On || typing.User.ID != bob.User().ID {
		t.Errorf("typing %+v", typing)
	}
	if _, err := alice.Direct(ctx, bob.User().ID, "psst", nil); err != nil {
		t.Fatal(err)
	}
	if d := await[troupe.DirectEvent](t, bobEv, "direct", nil); d.Text != "psst" || d.From.ID != alice.User().ID {
		t.Errorf("direct %+v", d)
	}

	members, err := alice.Presence(ctx, "general")
	if err != nil || len(members) != 2 {
		t.Errorf("presence = %v, %v; want 2 members", members, err)
	}
	page, err := bob.History(ctx, "general", troupe.HistoryQuery{Limit: 10})
	if err != nil || len(page.Messages) != 2 || page.Messages[0].ID != ack.MsgID || page.More {
		t.Errorf("history = %+v, %v; want both messages", page, err)
	}
	if pos, ok := alice.Position("general"); !ok || pos.Offset != 2 || pos.Epoch != joined.Epoch {
		t.Errorf("alice's position %+v %v, want offset 2", pos, ok)
	}
	if pong, err := alice.Ping(ctx); err != nil || pong.ServerTime == 0 || pong.RTT <= 0 {
		t.Errorf("ping = %+v, %v", pong, err)
	}
}

func TestServerErrorsAreTyped(t *testing.T) {
	_, url := startServer(t)
	ctx := testCtx(t)
	c, rec := dial(t, url, troupe.Options{Name: "carol"})

	_, err := c.Send(ctx, "nowhere", troupe.Message{Text: "x"})
	var se *troupe.ServerError
	if !errors.As(err, &se) || se.Code != troupe.CodeNotJoined || se.Message == "" {
		t.Errorf("send to a room not joined: %v, want a not_joined ServerError", err)
	}
	if !errors.Is(err, &troupe.ServerError{Code: troupe.CodeNotJoined}) {
		t.Errorf("errors.Is by code failed for %v", err)
	}
	if _, err := c.Join(ctx, "bad room!"); troupe.ErrorCode(err) != troupe.CodeInvalid {
		t.Errorf("join with a bad name: %v, want invalid", err)
	}
	if _, err := c.Direct(ctx, "nobody-here", "hi", nil); troupe.ErrorCode(err) != troupe.CodeNoSuchUser {
		t.Errorf("direct to nobody: %v, want no_such_user", err)
	}
	// Typing has no id, so its error is pushed.
	if err := c.Typing(ctx, "nowhere", true); err != nil {
		t.Fatal(err)
	}
	if e := await[troupe.ErrorEvent](t, rec, "typing error", nil); e.Err.Code != troupe.CodeNotJoined {
		t.Errorf("ErrorEvent %+v, want not_joined", e.Err)
	}
}

func TestRequestTimeout(t *testing.T) {
	_, url := startServer(t)
	ctx := testCtx(t)
	fd := &faultDialer{dropped: make(chan struct{}, 16)}
	c, _ := dial(t, url, troupe.Options{Name: "dave", RequestTimeout: 300 * time.Millisecond, DialContext: fd.DialContext})
	if _, err := c.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}

	// The first send never reaches the server: Send times out, then sends the
	// same message again (same cid) and is acked once.
	fd.dropFrames("send")
	type result struct {
		ack troupe.Ack
		err error
	}
	done := make(chan result, 1)
	go func() {
		ack, err := c.Send(ctx, "r", troupe.Message{Text: "eventually"})
		done <- result{ack, err}
	}()
	select {
	case <-fd.dropped:
	case <-ctx.Done():
		t.Fatal("the send frame was never written")
	}
	fd.dropFrames("")
	res := <-done
	if res.err != nil || res.ack.Offset != 1 || res.ack.Dup {
		t.Fatalf("send after a timeout = %+v, %v; want offset 1, not a dup", res.ack, res.err)
	}

	// A request that is not retried returns ErrRequestTimeout.
	fd.dropFrames("ping")
	start := time.Now()
	if _, err := c.Ping(ctx); !errors.Is(err, troupe.ErrRequestTimeout) {
		t.Errorf("ping into a black hole = %v, want ErrRequestTimeout", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("ping timed out after %s, before RequestTimeout", d)
	}

	// Send keeps retrying until its context ends.
	fd.dropFrames("send")
	before := fd.droppedN.Load()
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := c.Send(sctx, "r", troupe.Message{Text: "lost"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("send into a black hole = %v, want the context's deadline", err)
	}
	if n := fd.droppedN.Load() - before; n < 2 {
		t.Errorf("send was written %d times in 1s with a 300ms timeout; want retries", n)
	}
}

// TestIdleClientAnswersHeartbeats: a client that writes nothing for many
// heartbeats (and many write timeouts) stays connected by answering the
// server's pings.
func TestIdleClientAnswersHeartbeats(t *testing.T) {
	_, url := startServer(t, "--heartbeat-interval", "50ms", "--idle-timeout", "200ms")
	ctx := testCtx(t)
	fd := &faultDialer{pinged: make(chan struct{}, 1)}
	c, rec := dial(t, url, troupe.Options{Name: "quiet", RequestTimeout: 20 * time.Millisecond, DialContext: fd.DialContext})
	if _, err := c.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	for fd.pings.Load() < 10 {
		select {
		case <-fd.pinged:
		case <-ctx.Done():
			t.Fatalf("only %d pings", fd.pings.Load())
		}
	}
	for _, ev := range rec.snapshot() {
		if _, ok := ev.(troupe.ReconnectingEvent); ok {
			t.Fatalf("the idle client lost its connection: %+v", ev)
		}
	}
	if _, err := c.Ping(ctx); err != nil || fd.dials.Load() != 1 {
		t.Errorf("ping = %v after %d dials; want the first connection alive", err, fd.dials.Load())
	}
}
