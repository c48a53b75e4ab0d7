package app_test

import (
	"errors"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/postgres"
)

// TestClusterSessionResumesOnAnotherNode: a client whose connection to node
// 1 drops resumes its session on node 3 (the same anonymous user) and
// recovers with since what was sent in the room meanwhile, from node 2.
func TestClusterSessionResumesOnAnotherNode(t *testing.T) {
	c := startCluster(t, 3)
	ann := mustDial(t, c.procs[0].addr)
	w := ann.hello("ann")
	j := ann.request(map[string]any{"type": "join", "room": "resume"})
	bob := mustHello(t, c.procs[1].addr, "bob")
	bob.request(map[string]any{"type": "join", "room": "resume"})
	if a := bob.request(map[string]any{"type": "send", "room": "resume", "text": "first", "cid": "b1"}); a["type"] != "ack" || a["offset"] != float64(1) {
		t.Fatalf("bob's first = %v", a)
	}
	if m := ann.nextOfType("message"); m["msg"].(map[string]any)["offset"] != float64(1) {
		t.Fatalf("ann got %v, want offset 1", m)
	}
	ann.conn.NetConn().Close() // the network drops
	for i, text := range []string{"second", "third"} {
		if a := bob.request(map[string]any{"type": "send", "room": "resume", "text": text, "cid": text}); a["type"] != "ack" || a["offset"] != float64(i+2) {
			t.Fatalf("bob's %s = %v", text, a)
		}
	}
	// Node 1 saves the dropped session to the store; nothing tells a client
	// when, so the test watches the store.
	store, err := postgres.Open(t.Context(), storeOf(c))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for deadline := time.Now().Add(frameWait); ; time.Sleep(20 * time.Millisecond) {
		_, err := store.LoadSession(t.Context(), w["session"].(string))
		if err == nil {
			break
		}
		if !errors.Is(err, persistence.ErrNoSuchSession) || time.Now().After(deadline) {
			t.Fatalf("the dropped session in the store: %v", err)
		}
	}
	again := mustDial(t, c.procs[2].addr)
	h := again.request(map[string]any{"type": "hello", "name": "ann", "session": w["session"]})
	if h["type"] != "welcome" || h["resumed"] != true || h["user"].(map[string]any)["id"] != w["user"].(map[string]any)["id"] {
		t.Fatalf("hello with the session on node 3 = %v, want ann's session resumed", h)
	}
	r := again.request(map[string]any{"type": "join", "room": "resume", "since": map[string]any{"epoch": j["epoch"], "offset": 1}})
	msgs, _ := r["messages"].([]any)
	if r["recovered"] != true || len(msgs) != 2 || msgs[0].(map[string]any)["text"] != "second" || msgs[1].(map[string]any)["text"] != "third" {
		t.Fatalf("join with since on node 3 = %v, want second and third recovered", r)
	}
}

// storeOf returns the store DSN the cluster's nodes share.
func storeOf(c *clusterNodes) string {
	for i, a := range c.args[0] {
		if a == "--store" {
			return c.args[0][i+1]
		}
	}
	return ""
}
