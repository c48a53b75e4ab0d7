package app_test

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
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
	// Fewer sends in flight than the publisher's outbox holds: its acks (and
	// a presence diff) must fit while a busy machine delays its flusher.
	const window = 8
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

// TestTypingFloodIsDroppedNotFatal floods typing at a member that reads
// nothing (with a tiny TCP receive window): typing is ephemeral, so the
// server drops it once that member's outbox is half full instead of closing
// the member as a slow consumer, and the member later receives the message
// sent after the flood.
func TestTypingFloodIsDroppedNotFatal(t *testing.T) {
	a := startServer(t, "--rate-limit", "0", "--outbox-size", "32", "--write-timeout", "60s")
	addr := a.Addr.String()
	room := strings.Repeat("t", 64)
	const flood = 40_000

	quiet := joinedNonReader(t, addr, room)
	// From here on the quiet member reads nothing until the flood is over.

	typist := mustDial(t, addr)
	typist.hello(strings.Repeat("n", 32))
	if f := typist.request(map[string]any{"type": "join", "room": room}); f["type"] != "joined" {
		t.Fatalf("join: %v", f)
	}
	frame := fmt.Sprintf(`{"type":"typing","room":%q,"on":true}`, room)
	for range flood {
		typist.sendRaw(frame)
	}
	// The room handles the typist's frames in order: once this send is
	// acked, the whole flood has been offered to the quiet member.
	if ack := typist.request(map[string]any{"type": "send", "room": room, "text": "after the flood"}); ack["type"] != "ack" {
		t.Fatalf("send after the flood: %v", ack)
	}
	_, samples := scrape(t, addr)
	if n := sample(t, samples, `troupe_drops_total{reason="ephemeral"}`); n == 0 {
		t.Fatal("no typing frame was dropped: the flood never filled the quiet member's outbox")
	}
	if n := sample(t, samples, "troupe_slow_consumer_closes_total"); n != 0 {
		t.Fatalf("slow-consumer closes = %v, want 0", n)
	}

	if err := quiet.conn.SetDeadline(time.Now().Add(frameWait)); err != nil {
		t.Fatal(err)
	}
	typing := 0
	for {
		op, p := quiet.readFrame(t)
		if op == 0x8 {
			t.Fatalf("quiet member closed with %q after %d typing frames", p, typing)
		}
		if strings.Contains(string(p), `"type":"typing"`) {
			typing++
			continue
		}
		if strings.Contains(string(p), "after the flood") {
			break
		}
	}
	if typing >= flood {
		t.Fatalf("quiet member got all %d typing frames; none was dropped", typing)
	}
	t.Logf("quiet member received %d of %d typing frames", typing, flood)
}

// joinedNonReader joins room over a raw connection whose receive buffer is
// 4 KiB, for a member that then reads nothing: what the server sends it soon
// backs up in the server's outbox rather than in the kernel.
func joinedNonReader(t *testing.T, addr, room string) *handshake {
	t.Helper()
	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	h := rawUpgradeWith(t, d, addr, "troupe.v1")
	h.helloOverRaw(t)
	h.writeText(t, fmt.Sprintf(`{"type":"join","id":8,"room":%q}`, room))
	if op, p := h.readFrame(t); op != 0x1 || !strings.Contains(string(p), `"joined"`) {
		t.Fatalf("join of a member that will not read: %q", p)
	}
	return h
}
