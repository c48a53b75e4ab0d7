package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/persistence/faults"
)

// TestStoreOutageKeepsAcceptedMessages fails, then stalls, the store while a
// member sends: nothing is acked or delivered while the store is down, a room
// that cannot load answers unavailable, readiness fails, and once the store
// returns every accepted message is stored, acked and delivered in order.
func TestStoreOutageKeepsAcceptedMessages(t *testing.T) {
	for _, mode := range []faults.Mode{faults.Fail, faults.Stall} {
		t.Run(mode.String(), func(t *testing.T) {
			a := startServer(t, "--rate-limit", "0")
			addr := a.Addr.String()
			pub, watcher, newcomer := mustDial(t, addr), mustDial(t, addr), mustDial(t, addr)
			for _, c := range []*rawClient{pub, watcher, newcomer} {
				c.hello("someone")
			}
			for _, c := range []*rawClient{pub, watcher} {
				if f := c.request(map[string]any{"type": "join", "room": "outage"}); f["type"] != "joined" {
					t.Fatalf("join: %v", f)
				}
			}

			hit := a.Faults().Inject(mode)
			const count = 20
			for i := 1; i <= count; i++ {
				pub.sendRaw(fmt.Sprintf(`{"type":"send","id":%d,"room":"outage","text":"m%d","cid":"c%d"}`, i, i, i))
			}
			// The room handles commands in order: once presence is answered,
			// all sends were accepted, and none can have been acked.
			pub.sendRaw(`{"type":"presence","id":100,"room":"outage"}`)
			for {
				f := pub.next()
				if f["type"] == "ack" {
					t.Fatalf("ack while the store is down: %v", f)
				}
				if f["id"] == float64(100) {
					break
				}
			}
			select {
			case <-hit:
			case <-time.After(frameWait):
				t.Fatal("the room never called the store")
			}
			if code, _, _ := httpGet(t, addr, "/readyz"); code != 503 {
				t.Fatalf("/readyz during the outage = %d, want 503", code)
			}
			if mode == faults.Fail {
				f := newcomer.request(map[string]any{"type": "join", "room": "elsewhere"})
				if f["type"] != "error" || f["code"] != "unavailable" {
					t.Fatalf("join of an unloadable room = %v, want unavailable", f)
				}
			}

			a.Faults().Heal()
			for i := 1; i <= count; i++ {
				f := pub.nextOfType("ack")
				if f["id"] != float64(i) || f["offset"] != float64(i) {
					t.Fatalf("ack %d = %v, want id and offset %d", i, f, i)
				}
			}
			seen := 0
			for seen < count {
				for _, m := range messagesOf(watcher.next()) {
					seen++
					if off := m["offset"]; off != float64(seen) {
						t.Fatalf("watcher got offset %v, want %d", off, seen)
					}
				}
			}
			if f := newcomer.request(map[string]any{"type": "join", "room": "elsewhere"}); f["type"] != "joined" {
				t.Fatalf("join after the outage = %v", f)
			}
			if code, _, _ := httpGet(t, addr, "/readyz"); code != 200 {
				t.Fatalf("/readyz after the outage = %d, want 200", code)
			}
		})
	}
}

// TestShutdownAcksBeforeClosing starts a graceful shutdown while a room holds
// unstored messages (the store is stalled): new sends are refused with
// unavailable, and every accepted send is acked before the 1001 close.
func TestShutdownAcksBeforeClosing(t *testing.T) {
	a := startServer(t, "--rate-limit", "0")
	pub := mustDial(t, a.Addr.String())
	pub.hello("pub")
	if f := pub.request(map[string]any{"type": "join", "room": "closing"}); f["type"] != "joined" {
		t.Fatalf("join: %v", f)
	}
	a.Faults().Inject(faults.Stall)
	accepted := map[float64]bool{}
	send := func(id int) {
		pub.sendRaw(fmt.Sprintf(`{"type":"send","id":%d,"room":"closing","text":"m%d","cid":"c%d"}`, id, id, id))
	}
	for id := 1; id <= 20; id++ {
		send(id)
		accepted[float64(id)] = true
	}
	// Once presence is answered, the room holds all 20 sends.
	if f := pub.request(map[string]any{"type": "presence", "room": "closing"}); f["type"] != "presence" {
		t.Fatalf("presence: %v", f)
	}

	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		shutdown <- a.Shutdown(ctx)
	}()
	// Send until the server refuses: each send is followed by a presence
	// request, whose answer comes after the send's refusal if there is one.
	for id := 21; ; id += 2 {
		send(id)
		pub.sendRaw(fmt.Sprintf(`{"type":"presence","id":%d,"room":"closing"}`, id+1))
		refused := false
		for {
			f := pub.next()
			if f["id"] == float64(id) {
				if f["type"] != "error" || f["code"] != "unavailable" {
					t.Fatalf("send during shutdown answered %v", f)
				}
				refused = true
			}
			if f["id"] == float64(id+1) {
				break
			}
		}
		if refused {
			break
		}
		accepted[float64(id)] = true
	}
	// Draining has begun and the store holds it up: the server still answers
	// HTTP, but it is no longer ready and takes no new connections.
	if code, _, body := httpGet(t, a.Addr.String(), "/readyz"); code != 503 || !strings.Contains(body, "draining") {
		t.Fatalf("/readyz while draining = %d %q, want 503 draining", code, body)
	}
	if _, err := dial(t, a.Addr.String(), "", "troupe.v1"); err == nil {
		t.Fatal("a new connection was accepted while draining")
	}
	a.Faults().Heal()
	for len(accepted) > 0 {
		f, err := pub.recv(frameWait)
		if err != nil {
			t.Fatalf("%v before %d accepted sends were acked", err, len(accepted))
		}
		if f["type"] == "ack" {
			delete(accepted, f["id"].(float64))
		}
	}
	if code := pub.waitClose(); code != 1001 {
		t.Fatalf("close code %d, want 1001", code)
	}
	if err := <-shutdown; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}
