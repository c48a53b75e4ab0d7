package app_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// joinRoom joins c to room and fails the test unless it is joined.
func joinRoom(t *testing.T, c *rawClient, room string) map[string]any {
	t.Helper()
	f := c.request(map[string]any{"type": "join", "room": room})
	if f["type"] != "joined" {
		t.Fatalf("join %s: %v", room, f)
	}
	return f
}

// until collects the frames c receives up to the first for which last
// reports true (that one left out).
func until(t *testing.T, c *rawClient, last func(map[string]any) bool) []map[string]any {
	t.Helper()
	var out []map[string]any
	for {
		f := c.next()
		if last(f) {
			return out
		}
		out = append(out, f)
	}
}

// withoutPresence leaves out presence_diffs, which come whenever a member
// joins.
func withoutPresence(frames []map[string]any) []map[string]any {
	out := frames[:0]
	for _, f := range frames {
		if f["type"] != "presence_diff" {
			out = append(out, f)
		}
	}
	return out
}

// isText reports whether f is the push of a message with that text.
func isText(text string) func(map[string]any) bool {
	return func(f map[string]any) bool {
		for _, m := range messagesOf(f) {
			if m["text"] == text {
				return true
			}
		}
		return false
	}
}

// isReply reports whether f answers the request id.
func isReply(id int) func(map[string]any) bool {
	return func(f map[string]any) bool { return f["id"] == float64(id) }
}

// TestSignalsReachTheOtherConnections: a signal goes to every other
// connection in the room (the sender's other tab included) with the
// sender's user and connection, never back to the sending connection;
// bad signals get a clear error and reach nobody.
func TestSignalsReachTheOtherConnections(t *testing.T) {
	t.Parallel()
	a := startServer(t)
	addr := a.Addr.String()
	tab1, tab2, bob := mustDial(t, addr), mustDial(t, addr), mustDial(t, addr)
	w1 := tab1.hello("alice")
	tab2.hello("alice")
	bob.hello("bob")
	conn1, _ := w1["conn"].(string)
	if conn1 == "" {
		t.Fatalf("welcome names no conn: %v", w1)
	}
	if lim, _ := w1["limits"].(map[string]any); lim["signal_rate_per_s"] != float64(60) {
		t.Fatalf("welcome limits %v, want signal_rate_per_s 60", w1["limits"])
	}
	for _, c := range []*rawClient{tab1, tab2, bob} {
		joinRoom(t, c, "board")
	}

	// Not a member, no key, a bad key, oversize data: errors to the sender only.
	for _, tc := range []struct {
		frame map[string]any
		code  string
	}{
		{map[string]any{"type": "signal", "room": "elsewhere", "key": "cursor", "data": 1}, "not_joined"},
		{map[string]any{"type": "signal", "room": "board", "data": 1}, "invalid"},
		{map[string]any{"type": "signal", "room": "board", "key": "has space"}, "invalid"},
		{map[string]any{"type": "signal", "room": "board", "key": "cursor", "data": strings.Repeat("x", 4096)}, "invalid"},
	} {
		if f := tab1.request(tc.frame); f["type"] != "error" || f["code"] != tc.code {
			t.Fatalf("%v: got %v, want error %s", tc.frame, f, tc.code)
		}
	}

	// The room handles a connection's frames in order and broadcasts a
	// message after the signal sent before it: the message is the barrier.
	tab1.sendJSON(map[string]any{"type": "signal", "room": "board", "key": "cursor", "data": map[string]any{"x": 3, "y": 4}})
	tab1.sendJSON(map[string]any{"type": "send", "id": 99, "room": "board", "text": "barrier"})
	for name, c := range map[string]*rawClient{"tab2": tab2, "bob": bob} {
		got := withoutPresence(until(t, c, isText("barrier")))
		if len(got) != 1 || got[0]["type"] != "signal" {
			t.Fatalf("%s got %v, want exactly the one valid signal", name, got)
		}
		s := got[0]
		user, _ := s["user"].(map[string]any)
		data, _ := json.Marshal(s["data"])
		if s["room"] != "board" || s["key"] != "cursor" || s["conn"] != conn1 || user["name"] != "alice" || string(data) != `{"x":3,"y":4}` {
			t.Fatalf("%s got signal %v", name, s)
		}
	}
	if got := withoutPresence(until(t, tab1, isReply(99))); len(got) != 0 {
		t.Fatalf("the sending connection got %v, want nothing", got)
	}
}

// TestSignalsHaveTheirOwnRate: signals do not spend the message budget,
// and over the signal rate they are dropped with one rate_limited a
// second, never a close.
func TestSignalsHaveTheirOwnRate(t *testing.T) {
	t.Parallel()
	a := startServer(t, "--rate-limit", "1", "--rate-burst", "3", "--signal-rate", "1", "--signal-burst", "2")
	addr := a.Addr.String()
	alice, bob := mustDial(t, addr), mustDial(t, addr)
	alice.hello("alice")
	bob.hello("bob")
	joinRoom(t, alice, "r")
	joinRoom(t, bob, "r")
	const flood = 30
	for i := range flood {
		alice.sendJSON(map[string]any{"type": "signal", "id": 100 + i, "room": "r", "key": "cursor", "data": i})
	}
	// The message budget (burst 3, one spent by the join) is untouched by
	// the flood; the errors of the flood come before the send's ack.
	alice.sendJSON(map[string]any{"type": "send", "id": 7, "room": "r", "text": "still here"})
	limited := 0
	for _, f := range until(t, alice, func(f map[string]any) bool { return f["type"] == "ack" }) {
		if f["type"] == "error" && f["code"] == "rate_limited" {
			limited++
		} else if f["type"] == "error" {
			t.Fatalf("alice got %v", f)
		}
	}
	if limited < 1 || limited >= flood-2 {
		t.Fatalf("%d rate_limited answers to %d signals over a burst of 2, want at least 1 and one a second", limited, flood)
	}
	signals := 0
	for _, f := range until(t, bob, isText("still here")) {
		if f["type"] == "signal" {
			signals++
		}
	}
	// What the limit let through may reach bob coalesced: at least one.
	if signals < 1 || signals >= flood {
		t.Fatalf("bob got %d of %d signals, want some and not all", signals, flood)
	}
	_, samples := scrape(t, addr)
	if n := sample(t, samples, `troupe_limit_rejections_total{limit="signal_rate"}`); n < float64(limited) || n > float64(flood-signals) {
		t.Fatalf("signal_rate rejections %v, want %d to %d", n, limited, flood-signals)
	}
}

// TestSignalFloodCoalescedMessagesExactlyOnce floods cursor updates at a
// member that reads nothing until the flood is over (a tiny TCP receive
// window, a small outbox): it is never closed as a slow consumer, what was
// queued for it is coalesced so it gets far fewer signals, the last of them
// the latest position, and the messages sent in the same room during the
// flood reach it, and a member that reads, exactly once and in order.
func TestSignalFloodCoalescedMessagesExactlyOnce(t *testing.T) {
	t.Parallel()
	a := startServer(t, "--rate-limit", "0", "--signal-rate", "0", "--outbox-size", "32", "--write-timeout", "60s")
	addr := a.Addr.String()
	const room, flood, every = "canvas", 20_000, 400 // a message after every 400 signals: 50 messages

	slow := joinedNonReader(t, addr, room)
	// From here on the slow member reads nothing until the flood is over.
	reader := mustDial(t, addr)
	reader.hello("reader")
	joinRoom(t, reader, room)
	artist := mustDial(t, addr)
	artist.hello("artist")
	joinRoom(t, artist, room)

	sent := 0
	for i := range flood {
		artist.sendRaw(fmt.Sprintf(`{"type":"signal","room":%q,"key":"cursor","data":{"x":%d,"y":%d}}`, room, i, flood-i))
		if (i+1)%every == 0 {
			sent++
			artist.sendRaw(fmt.Sprintf(`{"type":"send","id":%d,"room":%q,"text":"m%d","cid":"c%d"}`, sent, room, sent, sent))
		}
	}
	for acked := 0; acked < sent; {
		f := artist.next()
		switch f["type"] {
		case "ack":
			acked++
			if f["dup"] != false || f["offset"] != float64(acked) {
				t.Fatalf("ack %v, want offset %d", f, acked)
			}
		case "error":
			t.Fatalf("artist got %v", f)
		}
	}
	_, samples := scrape(t, addr)
	if n := sample(t, samples, "troupe_slow_consumer_closes_total"); n != 0 {
		t.Fatalf("slow-consumer closes = %v, want 0", n)
	}
	coalesced := sample(t, samples, `troupe_drops_total{reason="coalesced"}`)
	if coalesced == 0 {
		t.Fatal("no signal was coalesced: the flood never backed up the slow member's outbox")
	}

	offsets := func(who string, frames func() map[string]any, done func(lastX float64, next int) bool) (signals int) {
		next, lastX := 1, -1.0
		for !done(lastX, next) {
			f := frames()
			switch f["type"] {
			case "signal":
				signals++
				data, _ := f["data"].(map[string]any)
				x, _ := data["x"].(float64)
				if x <= lastX {
					t.Fatalf("%s: cursor went back from %v to %v", who, lastX, x)
				}
				lastX = x
			case "message", "batch":
				for _, m := range messagesOf(f) {
					if m["offset"] != float64(next) || m["text"] != fmt.Sprintf("m%d", next) {
						t.Fatalf("%s: message %v, want offset %d exactly once", who, m, next)
					}
					next++
				}
			case "close":
				t.Fatalf("%s closed after %d signals", who, signals)
			}
		}
		return signals
	}
	complete := func(lastX float64, next int) bool { return lastX == flood-1 && next == sent+1 }

	if err := slow.conn.SetDeadline(time.Now().Add(frameWait)); err != nil {
		t.Fatal(err)
	}
	slowFrames := func() map[string]any {
		op, p := slow.readFrame(t)
		for op == 0x9 { // the server's heartbeat ping: any time after the upgrade
			op, p = slow.readFrame(t)
		}
		if op == 0x8 {
			return map[string]any{"type": "close"}
		}
		var f map[string]any
		if err := json.Unmarshal(p, &f); err != nil {
			t.Fatalf("slow member: %q is not JSON", p)
		}
		return f
	}
	slowSignals := offsets("slow member", slowFrames, complete)
	if slowSignals >= flood {
		t.Fatalf("slow member got all %d signals; none was coalesced", slowSignals)
	}
	readerSignals := offsets("reader", reader.next, complete)
	t.Logf("slow member: %d of %d signals (%v coalesced in all), reader: %d; every message once", slowSignals, flood, coalesced, readerSignals)
}
