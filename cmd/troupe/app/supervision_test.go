package app_test

import (
	"fmt"
	"testing"
	"time"
)

// joinedClient dials, says hello as name, joins room and returns the client
// with its welcome.
func joinedClient(t *testing.T, addr, name, room string) (*rawClient, map[string]any) {
	t.Helper()
	c := mustDial(t, addr)
	w := c.hello(name)
	if f := c.request(map[string]any{"type": "join", "room": room}); f["type"] != "joined" {
		t.Fatalf("%s: join: %v", name, f)
	}
	return c, w
}

// TestConnCrashClosesOnlyItsSocket makes one connection actor panic (the
// conn-kill drill): that socket alone is closed with 1011, the others keep
// talking, and the crashed client resumes its session and recovers what it
// missed with since.
func TestConnCrashClosesOnlyItsSocket(t *testing.T) {
	a := startServer(t, "--rate-limit", "0")
	addr := a.Addr.String()
	const room = "sup"
	clients := make([]*rawClient, 3)
	sessions := make([]string, 3)
	for i := range clients {
		c, w := joinedClient(t, addr, fmt.Sprintf("member-%d", i), room)
		clients[i], sessions[i] = c, w["session"].(string)
	}
	if ack := clients[0].request(map[string]any{"type": "send", "room": room, "text": "before"}); ack["type"] != "ack" {
		t.Fatalf("send: %v", ack)
	}
	for _, c := range clients[1:] {
		c.nextOfType("message")
	}

	if n := a.Engine().KillConns(1); n != 1 {
		t.Fatalf("KillConns(1) crashed %d connections", n)
	}
	var crashed int
	select {
	case <-clients[0].closed:
		crashed = 0
	case <-clients[1].closed:
		crashed = 1
	case <-clients[2].closed:
		crashed = 2
	case <-time.After(frameWait):
		t.Fatal("no connection was closed after the crash")
	}
	if code := clients[crashed].code(); code != 1011 {
		t.Fatalf("crashed connection closed with %d, want 1011", code)
	}
	var alive []*rawClient
	for i, c := range clients {
		if i != crashed {
			alive = append(alive, c)
		}
	}
	ack := alive[0].request(map[string]any{"type": "send", "room": room, "text": "after"})
	if ack["type"] != "ack" {
		t.Fatalf("a sibling of the crashed connection cannot send: %v", ack)
	}
	if m := messagesOf(alive[1].nextOfType("message")); len(m) != 1 || m[0]["text"] != "after" {
		t.Fatalf("a sibling of the crashed connection got %v, want the message after", m)
	}
	for _, c := range alive {
		if f := c.request(map[string]any{"type": "ping"}); f["type"] != "pong" {
			t.Fatalf("sibling ping: %v", f)
		}
	}

	back := mustDial(t, addr)
	w := back.request(map[string]any{"type": "hello", "name": fmt.Sprintf("member-%d", crashed), "session": sessions[crashed]})
	if w["type"] != "welcome" || w["resumed"] != true {
		t.Fatalf("resume after the crash: %v", w)
	}
	j := back.request(map[string]any{"type": "join", "room": room, "since": map[string]any{"offset": 1, "epoch": epochOf(t, alive[0], room)}})
	msgs, _ := j["messages"].([]any)
	if j["type"] != "joined" || j["recovered"] != true || len(msgs) != 1 || msgs[0].(map[string]any)["text"] != "after" {
		t.Fatalf("recovery after the crash: %v", j)
	}
}

// epochOf reads a room's epoch from a member's join (a re-join answers again).
func epochOf(t *testing.T, c *rawClient, room string) string {
	t.Helper()
	f := c.request(map[string]any{"type": "join", "room": room})
	epoch, ok := f["epoch"].(string)
	if !ok {
		t.Fatalf("join %s: no epoch in %v", room, f)
	}
	return epoch
}

// TestUserCrashKeepsConnections makes a user actor panic (the user-crash
// drill): its supervisor restarts it with its connections, so direct messages
// still reach them and no socket is closed.
func TestUserCrashKeepsConnections(t *testing.T) {
	a := startServer(t, "--rate-limit", "0")
	addr := a.Addr.String()
	alice := mustDial(t, addr)
	alice.hello("alice")
	bob1 := mustDial(t, addr)
	w := bob1.hello("bob")
	bobID := w["user"].(map[string]any)["id"].(string)
	for round := range 3 {
		if !a.Engine().CrashUser(bobID) {
			t.Fatalf("round %d: bob has no live user actor", round)
		}
		text := fmt.Sprintf("after crash %d", round)
		if ack := alice.request(map[string]any{"type": "direct", "to": bobID, "text": text}); ack["type"] != "ack" {
			t.Fatalf("direct after a user crash: %v", ack)
		}
		if d := bob1.nextOfType("direct"); d["text"] != text {
			t.Fatalf("bob got %v, want %q", d, text)
		}
	}
	select {
	case <-bob1.closed:
		t.Fatalf("bob's connection closed (%d) by a user crash", bob1.code())
	default:
	}
}

// TestRoomPastItsBudgetIsClosed crashes a room more often than its restart
// budget allows: the first crashes restart it (room_restarted), the one past
// the budget stops it (room_closed, reason crashed), and a later join starts
// it again from the store with its stream intact.
func TestRoomPastItsBudgetIsClosed(t *testing.T) {
	a := startServer(t, "--room-restarts", "2", "--room-restart-backoff", "1ms")
	addr := a.Addr.String()
	const room = "fragile"
	member, _ := joinedClient(t, addr, "member", room)
	if ack := member.request(map[string]any{"type": "send", "room": room, "text": "kept"}); ack["type"] != "ack" {
		t.Fatalf("send: %v", ack)
	}
	for crash := 1; crash <= 3; crash++ {
		if !a.Engine().CrashRoom(room) {
			t.Fatalf("crash %d: room not active", crash)
		}
		if crash < 3 {
			if f := member.nextOfType("system"); f["event"] != "room_restarted" {
				t.Fatalf("crash %d: got %v, want room_restarted", crash, f)
			}
			continue
		}
		if f := member.nextOfType("room_closed"); f["reason"] != "crashed" {
			t.Fatalf("crash %d: got %v, want room_closed crashed", crash, f)
		}
	}
	j := member.request(map[string]any{"type": "join", "room": room})
	if j["type"] != "joined" || j["offset"] != float64(1) {
		t.Fatalf("join after the room stopped: %v", j)
	}
	_, samples := scrape(t, addr)
	for name, want := range map[string]float64{
		`troupe_actor_crashes_total{kind="room",reason="drill"}`:  3,
		`troupe_actor_restarts_total{kind="room",reason="drill"}`: 2,
		`troupe_rooms_stopped_total`:                              1,
	} {
		if got := sample(t, samples, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}
