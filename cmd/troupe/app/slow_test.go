package app_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestSlowConsumerIsClosedOthersGetEverything has one member stop reading
// while 1,000 large messages flow into its room: the room never waits for it,
// every other member receives all messages in order, and the slow member is
// closed with 4001 (which it sees once it reads again).
func TestSlowConsumerIsClosedOthersGetEverything(t *testing.T) {
	a := startServer(t, "--rate-limit", "0", "--outbox-size", "32")
	addr := a.Addr.String()
	const room, count = "firehose", 1000

	slow := rawUpgrade(t, addr, "troupe.v1")
	slow.helloOverRaw(t)
	slow.writeText(t, `{"type":"join","id":8,"room":"firehose"}`)
	if op, p := slow.readFrame(t); op != 0x1 || !strings.Contains(string(p), `"joined"`) {
		t.Fatalf("slow join: %q", p)
	}
	// From here on the slow member reads nothing.

	readers := []*rawClient{mustDial(t, addr), mustDial(t, addr)}
	for i, c := range readers {
		c.hello(fmt.Sprintf("reader-%d", i))
		if f := c.request(map[string]any{"type": "join", "room": room}); f["type"] != "joined" {
			t.Fatalf("join: %v", f)
		}
	}
	pub := mustDial(t, addr)
	pub.hello("pub")
	if f := pub.request(map[string]any{"type": "join", "room": room}); f["type"] != "joined" {
		t.Fatalf("join: %v", f)
	}

	text := strings.Repeat("x", 8000)
	const window = 32
	acked := 0
	for sent := 0; acked < count; {
		for sent < count && sent-acked < window {
			sent++
			pub.sendRaw(fmt.Sprintf(`{"type":"send","id":%d,"room":%q,"text":"%d %s"}`, sent, room, sent, text))
		}
		if f := pub.nextOfType("ack"); f["id"] != float64(acked+1) {
			t.Fatalf("ack %v, want id %d", f, acked+1)
		}
		acked++
	}

	for i, c := range readers {
		next := uint64(1)
		for next <= count {
			for _, m := range messagesOf(c.next()) {
				off := uint64(m["offset"].(float64))
				if off != next {
					t.Fatalf("reader-%d: offset %d, want %d", i, off, next)
				}
				next++
			}
		}
	}

	if err := slow.conn.SetDeadline(time.Now().Add(frameWait)); err != nil {
		t.Fatal(err)
	}
	if code := slow.closeFrameCode(t); code != 4001 {
		t.Fatalf("slow member closed with %d, want 4001", code)
	}
	_, samples := scrape(t, addr)
	if n := sample(t, samples, "troupe_slow_consumer_closes_total"); n != 1 {
		t.Fatalf("slow-consumer closes = %v, want 1", n)
	}
}
