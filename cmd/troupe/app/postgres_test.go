package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/cmd/troupe/app"
	"github.com/troupe-chat/troupe/persistence/pgtest"
	"github.com/troupe-chat/troupe/transport/auth"
)

// PostgreSQL end to end: real servers on a real PostgreSQL (pgtest starts
// one per test, so a test may stop it).

// TestPostgresStoreKeepsEverythingAcrossRestarts runs a conversation on a
// PostgreSQL store, stops the server, starts another on the same database
// and recovers every acked message with since.
func TestPostgresStoreKeepsEverythingAcrossRestarts(t *testing.T) {
	pg := pgtest.New(t)
	dsn := pg.NewDatabase(t)
	a := startServer(t, "--store", dsn, "--rate-limit", "0")
	pub := mustDial(t, a.Addr.String())
	helloAs(t, pub, "ann")
	j := pub.request(map[string]any{"type": "join", "room": "pg"})
	if j["type"] != "joined" {
		t.Fatalf("join: %v", j)
	}
	const count = 30
	for i := 1; i <= count; i++ {
		pub.sendRaw(fmt.Sprintf(`{"type":"send","id":%d,"room":"pg","text":"m%d","cid":"c%d"}`, i, i, i))
	}
	for i := 1; i <= count; i++ {
		if f := pub.nextOfType("ack"); f["id"] != float64(i) || f["offset"] != float64(i) {
			t.Fatalf("ack %d = %v", i, f)
		}
	}
	shutdown(t, a)

	b := startServer(t, "--store", dsn, "--rate-limit", "0")
	c := mustDial(t, b.Addr.String())
	c.hello("bob")
	r := c.request(map[string]any{"type": "join", "room": "pg", "since": map[string]any{"epoch": j["epoch"], "offset": 10}})
	msgs, _ := r["messages"].([]any)
	if r["recovered"] != true || r["epoch"] != j["epoch"] || r["offset"] != float64(count) || len(msgs) != count-10 {
		t.Fatalf("join after the restart = %v, want messages 11..%d recovered in epoch %v", r, count, j["epoch"])
	}
	// A retry of an acked send is a duplicate on the new server too: the
	// dedup window came back from the store. Another user's equal cid is
	// another message.
	if f := c.request(map[string]any{"type": "send", "room": "pg", "text": "m1", "cid": "c1"}); f["type"] != "ack" || f["dup"] == true {
		t.Fatalf("bob's c1: %v, want a fresh ack", f)
	}
	p := mustDial(t, b.Addr.String())
	helloAs(t, p, "ann")
	p.request(map[string]any{"type": "join", "room": "pg"})
	if f := p.request(map[string]any{"type": "send", "room": "pg", "text": "m2", "cid": "c2"}); f["type"] != "ack" || f["dup"] != true || f["offset"] != float64(2) {
		t.Fatalf("ann's retry of c2 on the new server = %v, want a dup ack of offset 2", f)
	}
}

// TestPostgresGoesAwayWhileRunning stops PostgreSQL under a room that is
// sending: nothing is acked while it is down and /readyz says 503; once it
// is back, every accepted send is stored, acked and delivered once, in order.
func TestPostgresGoesAwayWhileRunning(t *testing.T) {
	pg := pgtest.New(t)
	a := startServer(t, "--store", pg.NewDatabase(t), "--rate-limit", "0")
	addr := a.Addr.String()
	pub, watcher := mustDial(t, addr), mustDial(t, addr)
	pub.hello("ann")
	watcher.hello("bob")
	for _, c := range []*rawClient{pub, watcher} {
		if f := c.request(map[string]any{"type": "join", "room": "away"}); f["type"] != "joined" {
			t.Fatalf("join: %v", f)
		}
	}
	if f := pub.request(map[string]any{"type": "send", "room": "away", "text": "before", "cid": "c0"}); f["type"] != "ack" {
		t.Fatalf("send before the outage: %v", f)
	}
	if err := pg.StopImmediate(); err != nil {
		t.Fatal(err)
	}
	const count = 10
	for i := 1; i <= count; i++ {
		pub.sendRaw(fmt.Sprintf(`{"type":"send","id":%d,"room":"away","text":"m%d","cid":"c%d"}`, i, i, i))
	}
	pub.sendRaw(`{"type":"presence","id":100,"room":"away"}`)
	for {
		f := pub.next()
		if f["type"] == "ack" {
			t.Fatalf("ack while PostgreSQL is down: %v", f)
		}
		if f["id"] == float64(100) {
			break
		}
	}
	deadline := time.Now().Add(frameWait)
	for code, _, _ := httpGet(t, addr, "/readyz"); code != 503; code, _, _ = httpGet(t, addr, "/readyz") {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz while PostgreSQL is down = %d, want 503", code)
		}
	}
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= count; i++ {
		if f := pub.nextOfType("ack"); f["id"] != float64(i) || f["offset"] != float64(i+1) || f["dup"] == true {
			t.Fatalf("ack %d after PostgreSQL came back = %v, want offset %d", i, f, i+1)
		}
	}
	seen := 0
	for seen < count+1 {
		for _, m := range messagesOf(watcher.next()) {
			seen++
			if off := m["offset"]; off != float64(seen) {
				t.Fatalf("watcher got offset %v, want %d", off, seen)
			}
		}
	}
	if code, _, _ := httpGet(t, addr, "/readyz"); code != 200 {
		t.Fatalf("/readyz after PostgreSQL came back = %d, want 200", code)
	}
}

// shutdown stops a server before its test ends (the test's cleanup then
// finds it stopped).
func shutdown(t *testing.T, a *app.App) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// helloAs says hello with a token for user sub (signed with the test secret).
func helloAs(t *testing.T, c *rawClient, sub string) {
	t.Helper()
	tok, err := auth.SignHS256([]byte(testSecret), actors.Claims{Subject: sub})
	if err != nil {
		t.Fatal(err)
	}
	if f := c.request(map[string]any{"type": "hello", "token": tok}); f["type"] != "welcome" {
		t.Fatalf("hello as %s: %v", sub, f)
	}
}

// TestPostgresDownAtStart starts a server while its PostgreSQL is down: it
// listens anyway, /readyz says 503 and a join is answered unavailable; once
// PostgreSQL is up the same server serves, with no restart.
func TestPostgresDownAtStart(t *testing.T) {
	pg := pgtest.New(t)
	dsn := pg.NewDatabase(t)
	if err := pg.StopImmediate(); err != nil {
		t.Fatal(err)
	}
	a := startServer(t, "--store", dsn)
	addr := a.Addr.String()
	if code, _, _ := httpGet(t, addr, "/readyz"); code != 503 {
		t.Fatalf("/readyz with PostgreSQL down = %d, want 503", code)
	}
	c := mustDial(t, addr)
	c.hello("ann")
	if f := c.request(map[string]any{"type": "join", "room": "r"}); f["type"] != "error" || f["code"] != "unavailable" {
		t.Fatalf("join with PostgreSQL down = %v, want error unavailable", f)
	}
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for code, _, _ := httpGet(t, addr, "/readyz"); code != 200; code, _, _ = httpGet(t, addr, "/readyz") {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz after PostgreSQL came up = %d, want 200", code)
		}
		time.Sleep(20 * time.Millisecond) // the store's retries announce nothing; poll
	}
	if f := c.request(map[string]any{"type": "join", "room": "r"}); f["type"] != "joined" {
		t.Fatalf("join after PostgreSQL came up = %v", f)
	}
	if f := c.request(map[string]any{"type": "send", "room": "r", "text": "up", "cid": "c1"}); f["type"] != "ack" || f["offset"] != float64(1) {
		t.Fatalf("send after PostgreSQL came up = %v", f)
	}
}
