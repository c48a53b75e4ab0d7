package app_test

import (
	"encoding/base64"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// docUpdateAcked sends one doc_update under cid until it is acked,
// sending it again (same cid) while the room answers unavailable, as a
// client library does across an owner's death. It returns the ack.
func docUpdateAcked(t *testing.T, c *rawClient, room, cid string, data []byte) map[string]any {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		f := docUpdate(t, c, room, data, cid)
		switch {
		case f["type"] == "ack":
			return f
		case f["code"] != "unavailable" || time.Now().After(deadline):
			t.Fatalf("doc_update %s: %v", cid, f)
		}
	}
}

// TestDocAcrossNodes runs two real nodes (embedded NATS, one PostgreSQL):
// doc updates from either node reach the members of both as kind doc
// messages; a snapshot offered through the node that does not own the
// room is not stored, through the owner it is; a sync on either node reads
// the same document. Then the owner is SIGKILLed: the other node claims
// the room, and every acked update, before and after the kill, is in its
// sync at its acked offset.
func TestDocAcrossNodes(t *testing.T) {
	c := startCluster(t, 2)
	ann, bob := mustHello(t, c.procs[0].addr, "ann"), mustHello(t, c.procs[1].addr, "bob")
	joinRoom(t, ann, "board") // n1 claims the room
	joinRoom(t, bob, "board")

	acked := map[string]float64{}
	ack := docUpdateAcked(t, bob, "board", "c1", []byte("u1")) // forwarded to the owner
	acked["c1"] = ack["offset"].(float64)
	if m := messagesOf(ann.nextOfType("message")); len(m) != 1 || m[0]["kind"] != "doc" || decode64(t, m[0]["data"]) != "u1" {
		t.Fatalf("ann got %v", m)
	}
	ack = docUpdateAcked(t, ann, "board", "c2", []byte("u2"))
	acked["c2"] = ack["offset"].(float64)
	for {
		m := messagesOf(bob.nextOfType("message"))
		if len(m) == 1 && m[0]["kind"] == "doc" && decode64(t, m[0]["data"]) == "u2" {
			break
		}
	}
	snap := base64.StdEncoding.EncodeToString([]byte("state to 1"))
	if r := bob.request(map[string]any{"type": "doc_snapshot", "room": "board", "offset": 1, "data": snap}); r["type"] != "doc_snapshot" || r["stored"] != false {
		t.Fatalf("doc_snapshot through the relay: %v, want not stored", r)
	}
	if r := ann.request(map[string]any{"type": "doc_snapshot", "room": "board", "offset": 1, "data": snap}); r["stored"] != true || r["offset"] != float64(1) {
		t.Fatalf("doc_snapshot through the owner: %v", r)
	}
	for _, cl := range []*rawClient{ann, bob} {
		if st := syncAll(t, cl, "board", 0); st.snapshot != "state to 1" || len(st.updates) != 1 || st.updates[0] != "u2" {
			t.Fatalf("sync = %+v, want the snapshot and u2", st)
		}
	}

	for i := 3; i <= 30; i++ {
		cid := fmt.Sprintf("c%d", i)
		acked[cid] = docUpdateAcked(t, bob, "board", cid, fmt.Appendf(nil, "u%d", i))["offset"].(float64)
	}
	if err := c.procs[0].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for i := 31; i <= 60; i++ {
		cid := fmt.Sprintf("c%d", i)
		acked[cid] = docUpdateAcked(t, bob, "board", cid, fmt.Appendf(nil, "u%d", i))["offset"].(float64)
	}
	reader := mustHello(t, c.procs[1].addr, "reader")
	joinRoom(t, reader, "board")
	st := syncAll(t, reader, "board", 0)
	delete(acked, "c1") // covered by the snapshot
	checkSynced(t, st, acked)
	if len(st.updates) != len(acked) {
		t.Fatalf("sync after the kill has %d updates, want the %d acked after the snapshot, each once", len(st.updates), len(acked))
	}
}
