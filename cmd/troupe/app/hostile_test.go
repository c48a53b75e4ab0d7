package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// witness is a sender and a receiver in a calm room: after each abuse it
// proves the server, the room and other connections still work and that
// every acked message arrives, in order.
type witness struct {
	t        *testing.T
	sender   *rawClient
	receiver *rawClient
	room     string
	sent     int
	texts    []string
}

func newWitness(t *testing.T, addr string) *witness {
	w := &witness{t: t, sender: mustDial(t, addr), receiver: mustDial(t, addr), room: "calm"}
	w.sender.hello("witness-sender")
	w.receiver.hello("witness-receiver")
	for _, c := range []*rawClient{w.receiver, w.sender} {
		if f := c.request(map[string]any{"type": "join", "room": w.room}); f["type"] != "joined" {
			t.Fatalf("witness join: %v", f)
		}
	}
	return w
}

// check sends text and asserts its ack and its exact delivery.
func (w *witness) check(after, text string) {
	w.t.Helper()
	w.sent++
	f := w.sender.request(map[string]any{"type": "send", "room": w.room, "text": text, "cid": fmt.Sprintf("w-%d", w.sent)})
	if f["type"] != "ack" || f["offset"] != float64(w.sent) {
		w.t.Fatalf("after %s: send answered %v, want ack at offset %d", after, f, w.sent)
	}
	m := w.receiver.nextOfType("message")["msg"].(map[string]any)
	if m["offset"] != float64(w.sent) || m["text"] != text {
		w.t.Fatalf("after %s: receiver got %v, want offset %d text %q", after, m, w.sent, text)
	}
	w.texts = append(w.texts, text)
}

// TestHostileClientsLeaveOthersUnharmed runs abusive clients one after
// another against one server; after each, a witness pair shows the server,
// its room and its other connections keep working, and at the end the room's
// history holds every acked message, in order.
func TestHostileClientsLeaveOthersUnharmed(t *testing.T) {
	a := startServer(t, "--rate-limit", "0")
	addr := a.Addr.String()
	w := newWitness(t, addr)

	abusers := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"garbage bytes after the upgrade", func(t *testing.T) {
			h := rawUpgrade(t, addr, "troupe.v1")
			if _, err := h.conn.Write([]byte("\x00\xffGARBAGE\r\n\x81\x05hello")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadAll(h.br); err != nil {
				t.Fatalf("the server did not end the connection cleanly: %v", err)
			}
		}},
		{"garbage instead of an HTTP request", func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write([]byte("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 not http\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(frameWait))
			b, _ := io.ReadAll(c)
			if !strings.HasPrefix(string(b), "HTTP/1.1 400") {
				t.Fatalf("answered %q, want HTTP 400", b)
			}
		}},
		{"half-open: an HTTP request that never ends", func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() }) // stays open while the next abusers run
			if _, err := c.Write([]byte("GET /ws HTTP/1.1\r\nHost: x\r\n")); err != nil {
				t.Fatal(err)
			}
		}},
		{"half-open: upgraded and silent", func(t *testing.T) {
			rawUpgrade(t, addr, "troupe.v1") // no hello; closed at the hello deadline
		}},
		{"disconnect in the middle of a frame", func(t *testing.T) {
			h := rawUpgrade(t, addr, "troupe.v1")
			h.helloOverRaw(t)
			// A masked text frame announcing 1,000 bytes, of which 10 arrive.
			if _, err := h.conn.Write([]byte{0x81, 0xfe, 0x03, 0xe8, 1, 2, 3, 4, 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x'}); err != nil {
				t.Fatal(err)
			}
			h.conn.Close()
		}},
		{"disconnect right after sending", func(t *testing.T) {
			c := mustDial(t, addr)
			c.hello("hit-and-run")
			c.request(map[string]any{"type": "join", "room": "elsewhere"})
			for i := range 50 {
				c.sendRaw(fmt.Sprintf(`{"type":"send","id":%d,"room":"elsewhere","text":"bye %d"}`, i+1, i))
			}
			c.conn.NetConn().Close()
		}},
		{"deeply nested and huge JSON", func(t *testing.T) {
			c := mustDial(t, addr)
			c.hello("nester")
			c.sendRaw(`{"type":"send","id":1,"room":"calm","data":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`)
			if f := c.next(); f["type"] != "error" || f["code"] != "bad_json" {
				t.Fatalf("deep JSON answered %v, want bad_json", f)
			}
			c.sendRaw(`{"type":"send","id":2,"room":"calm","text":"` + strings.Repeat("y", 60000) + `"}`)
			if f := c.next(); f["type"] != "error" || f["code"] != "invalid" {
				t.Fatalf("text over the limit answered %v, want invalid", f)
			}
			if f := c.request(map[string]any{"type": "ping"}); f["type"] != "pong" {
				t.Fatalf("connection unusable after huge frames: %v", f)
			}
		}},
		{"wrong field types", func(t *testing.T) {
			c := mustDial(t, addr)
			c.hello("typist")
			for i, frame := range []string{
				`{"type":"send","id":%d,"room":5,"text":"x"}`,
				`{"type":"send","id":%d,"room":"calm","text":["x"]}`,
				`{"type":"join","id":%d,"room":"calm","since":"yesterday"}`,
				`{"type":"history","id":%d,"room":"calm","limit":"ten"}`,
				`{"type":"typing","id":%d,"room":"calm","on":"yes"}`,
			} {
				c.sendRaw(fmt.Sprintf(frame, i+1))
				if f := c.next(); f["type"] != "error" || f["code"] != "bad_frame" || f["id"] != float64(i+1) {
					t.Fatalf("%s answered %v, want bad_frame with the id", frame, f)
				}
			}
		}},
		{"unicode edge cases and control characters", func(t *testing.T) {
			c := mustDial(t, addr)
			name := "🦄 Zoë \u202eRTL\u200d"
			if f := c.hello(name); f["user"].(map[string]any)["name"] != strings.TrimSpace(name) {
				t.Fatalf("welcome name %v", f["user"])
			}
			bad := mustDial(t, addr)
			if f := bad.request(map[string]any{"type": "hello", "name": "nul\u0000name"}); f["code"] != "invalid" {
				t.Fatalf("a name with NUL answered %v, want invalid", f)
			}
		}},
		{"a flood of joins and leaves", func(t *testing.T) {
			c := mustDial(t, addr)
			c.hello("flooder")
			var b strings.Builder
			for i := range 300 {
				fmt.Fprintf(&b, `{"type":"join","id":%d,"room":"calm"}`+"\n", 2*i+1)
				fmt.Fprintf(&b, `{"type":"leave","id":%d,"room":"calm"}`+"\n", 2*i+2)
			}
			for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
				c.sendRaw(line)
			}
			for answered := 0; answered < 600; {
				f := c.next()
				if f["type"] == "joined" || f["type"] == "left" {
					answered++
				} else if f["type"] == "error" {
					t.Fatalf("flood answered %v", f)
				}
			}
			// The witness receiver saw the flooder come and go; skip those diffs.
		}},
		{"thousands of rooms", func(t *testing.T) {
			for k := range 20 {
				c := mustDial(t, addr)
				c.hello(fmt.Sprintf("roomer-%d", k))
				for i := range 101 {
					c.sendRaw(fmt.Sprintf(`{"type":"join","id":%d,"room":"many-%d-%d"}`, i+1, k, i))
				}
				joined := 0
				for seen := 0; seen < 101; seen++ {
					f := c.next()
					switch {
					case f["type"] == "joined":
						joined++
					case f["type"] == "error" && f["code"] == "limit_exceeded" && f["id"] == float64(101):
					default:
						t.Fatalf("join answered %v", f)
					}
				}
				if joined != 100 {
					t.Fatalf("%d joins accepted, want 100 (the per-connection limit)", joined)
				}
			}
		}},
	}
	for i, ab := range abusers {
		t.Run(ab.name, ab.run)
		w.check(ab.name, fmt.Sprintf("still here %d ✓ 🦄 \u200d \u202e", i))
	}

	f := w.receiver.request(map[string]any{"type": "history", "room": w.room, "limit": 200})
	msgs, _ := f["msgs"].([]any)
	if len(msgs) != len(w.texts) {
		t.Fatalf("history holds %d messages, want %d: %v", len(msgs), len(w.texts), f)
	}
	for i, m := range msgs {
		m := m.(map[string]any)
		if m["offset"] != float64(i+1) || m["text"] != w.texts[i] {
			got, _ := json.Marshal(m)
			t.Fatalf("history[%d] = %s, want offset %d text %q", i, got, i+1, w.texts[i])
		}
	}
}
