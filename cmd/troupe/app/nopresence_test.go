package app_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/troupe-chat/troupe/persistence/pgtest"
)

// Rooms with presence off: by the server API ("presence": false) or by
// --no-presence-rooms. Each test runs with --presence-interval 0, so a
// room pushes its presence changes once it has handled the commands queued
// before them: a member's send after another's join or leave is answered
// after any presence_diff that join or leave caused, and an ack that comes
// first proves there was none.

// presenceFlags are the flags of every test here.
var presenceFlags = []string{"--presence-interval", "0", "--rate-limit", "0", "--api-key", testAPIKey}

// sendAndNext sends a message to room and returns the next frame c reads.
func sendAndNext(t *testing.T, c *rawClient, room, text string) map[string]any {
	t.Helper()
	c.sendJSON(map[string]any{"type": "send", "id": 77, "room": room, "text": text})
	return c.next()
}

// assertPresenceOff runs a conversation in room, whose presence is off:
// joined lists no members, joins and leaves push no presence_diff,
// presence and presence_set are refused with presence_disabled, and
// messages, typing and recovery work as anywhere.
func assertPresenceOff(t *testing.T, addr, room string) {
	t.Helper()
	alice, bob := mustDial(t, addr), mustDial(t, addr)
	alice.hello("alice")
	bob.hello("bob")
	j := joinRoom(t, alice, room)
	if m, ok := j["members"].([]any); !ok || len(m) != 0 {
		t.Fatalf("joined %s lists members %v, want []", room, j["members"])
	}
	if _, ok := j["states"]; ok {
		t.Errorf("joined %s carries states: %v", room, j)
	}
	if j := joinRoom(t, bob, room); len(j["members"].([]any)) != 0 {
		t.Fatalf("bob's joined %s lists members %v, want []", room, j["members"])
	}
	if f := sendAndNext(t, alice, room, "1"); f["type"] != "ack" {
		t.Fatalf("after bob joined %s, alice read %v first, want her ack (no presence_diff)", room, f)
	}
	if f := bob.nextOfType("message"); f["msg"].(map[string]any)["text"] != "1" {
		t.Fatalf("bob got %v, want message 1", f)
	}

	for _, req := range []map[string]any{
		{"type": "presence", "room": room},
		{"type": "presence_set", "room": room, "state": map[string]any{"color": "red"}},
	} {
		typ := req["type"]
		if f := alice.request(req); f["type"] != "error" || f["code"] != "presence_disabled" {
			t.Errorf("%s in %s = %v, want error presence_disabled", typ, room, f)
		}
	}
	bob.sendJSON(map[string]any{"type": "typing", "room": room, "on": true})
	if f := alice.nextOfType("typing"); f["room"] != room || f["on"] != true {
		t.Errorf("typing in %s reached alice as %v", room, f)
	}

	// bob leaves: no presence_diff; he comes back with since and recovers
	// what he missed.
	if f := bob.request(map[string]any{"type": "leave", "room": room}); f["type"] != "left" {
		t.Fatalf("leave: %v", f)
	}
	if f := sendAndNext(t, alice, room, "2"); f["type"] != "ack" {
		t.Fatalf("after bob left %s, alice read %v first, want her ack (no presence_diff)", room, f)
	}
	if f := sendAndNext(t, alice, room, "3"); f["type"] != "ack" || f["offset"] != float64(3) {
		t.Fatalf("send 3: %v", f)
	}
	back := bob.request(map[string]any{"type": "join", "room": room,
		"since": map[string]any{"epoch": j["epoch"], "offset": 1}})
	if back["type"] != "joined" || back["recovered"] != true || len(back["messages"].([]any)) != 2 {
		t.Fatalf("rejoin with since = %v, want messages 2 and 3 recovered", back)
	}
	if f := sendAndNext(t, alice, room, "4"); f["type"] != "ack" {
		t.Fatalf("after bob joined %s again, alice read %v first, want her ack", room, f)
	}
}

// assertPresenceOn is the control: the same join in room, whose presence is
// on, pushes a presence_diff to alice before her ack.
func assertPresenceOn(t *testing.T, addr, room string) {
	t.Helper()
	alice, bob := mustDial(t, addr), mustDial(t, addr)
	alice.hello("alice")
	bob.hello("bob")
	joinRoom(t, alice, room)
	if j := joinRoom(t, bob, room); len(j["members"].([]any)) != 2 {
		t.Fatalf("joined %s lists %v, want both", room, j["members"])
	}
	if f := sendAndNext(t, alice, room, "x"); f["type"] != "presence_diff" {
		t.Fatalf("after bob joined %s, alice read %v first, want a presence_diff", room, f)
	}
}

// roomPresence reads a room's "presence" through the server API.
func roomPresence(t *testing.T, addr, room string) any {
	t.Helper()
	code, r := apiCall(t, addr, testAPIKey, "GET", "/api/rooms/"+room, "")
	if code != 200 {
		t.Fatalf("GET room %s: %d %v", room, code, r)
	}
	return r["presence"]
}

// TestNoPresenceRoomByAPI turns one room's presence off through the server
// API; another room keeps it.
func TestNoPresenceRoomByAPI(t *testing.T) {
	a := startServer(t, presenceFlags...)
	addr := a.Addr.String()
	code, r := apiCall(t, addr, testAPIKey, "PUT", "/api/rooms/bcast", `{"presence":false}`)
	if code != 201 || r["presence"] != false {
		t.Fatalf("PUT bcast presence false = %d %v, want 201 and presence false", code, r)
	}
	assertPresenceOff(t, addr, "bcast")
	assertPresenceOn(t, addr, "chat")
	if p := roomPresence(t, addr, "bcast"); p != false {
		t.Errorf("GET bcast presence = %v, want false", p)
	}
	if p := roomPresence(t, addr, "chat"); p != true {
		t.Errorf("GET chat presence = %v, want true", p)
	}
	// The server API still lists an off room's members.
	if code, r := apiCall(t, addr, testAPIKey, "GET", "/api/rooms/bcast/presence", ""); code != 200 || len(r["members"].([]any)) != 2 {
		t.Errorf("GET bcast presence list = %d %v, want both members", code, r)
	}
	// Configured without "presence", the room has it again.
	if code, r := apiCall(t, addr, testAPIKey, "PUT", "/api/rooms/bcast", `{}`); code != 200 || r["presence"] != true {
		t.Fatalf("PUT bcast {} = %d %v, want presence true", code, r)
	}
	if code, r := apiCall(t, addr, testAPIKey, "PUT", "/api/rooms/bcast", `{"presence":"no"}`); code != 400 {
		t.Errorf(`PUT presence "no" = %d %v, want 400`, code, r)
	}
}

// TestNoPresenceRoomsByPattern turns presence off for every room of the
// news: namespace with --no-presence-rooms.
func TestNoPresenceRoomsByPattern(t *testing.T) {
	a := startServer(t, append([]string{"--no-presence-rooms", "news:*,*.broadcast"}, presenceFlags...)...)
	addr := a.Addr.String()
	assertPresenceOff(t, addr, "news:today")
	assertPresenceOff(t, addr, "all.broadcast")
	assertPresenceOn(t, addr, "newsroom")
	if p := roomPresence(t, addr, "news:today"); p != false {
		t.Errorf("GET news:today presence = %v, want false", p)
	}
	// The pattern wins over a stored configuration that keeps presence.
	if code, r := apiCall(t, addr, testAPIKey, "PUT", "/api/rooms/news:later", `{"presence":true}`); code != 201 || r["presence"] != false {
		t.Errorf("PUT news:later presence true = %d %v, want 201 and presence false (the pattern)", code, r)
	}
}

// TestNoPresenceSurvivesARestart stores a room's presence-off setting,
// restarts the server on the same store (SQLite, PostgreSQL) and finds it
// still off.
func TestNoPresenceSurvivesARestart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "p.db") }},
		{"postgres", func(t *testing.T) string { return pgtest.New(t).NewDatabase(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := tc.store(t)
			flags := append([]string{"--store", store}, presenceFlags...)
			a := startServer(t, flags...)
			if code, r := apiCall(t, a.Addr.String(), testAPIKey, "PUT", "/api/rooms/quiet", `{"presence":false}`); code != 201 {
				t.Fatalf("PUT quiet: %d %v", code, r)
			}
			shutdown(t, a)

			b := startServer(t, flags...)
			addr := b.Addr.String()
			if p := roomPresence(t, addr, "quiet"); p != false {
				t.Fatalf("after the restart GET quiet presence = %v, want false", p)
			}
			assertPresenceOff(t, addr, "quiet")
			assertPresenceOn(t, addr, fmt.Sprintf("loud-%s", tc.name))
		})
	}
}
