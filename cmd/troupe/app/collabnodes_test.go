package app_test

import (
	"strings"
	"testing"
)

// TestCollabAcrossNodes runs two real nodes (embedded NATS, one
// PostgreSQL): a signal of a member on one node reaches a member on the
// other, named by its node-qualified connection; a presence state set on
// one node shows on the other in presence_diff and presence, and is cleared
// there when its connection leaves.
func TestCollabAcrossNodes(t *testing.T) {
	c := startCluster(t, 2)
	ann, bob := mustDial(t, c.procs[0].addr), mustDial(t, c.procs[1].addr)
	annConn, _ := ann.hello("ann")["conn"].(string)
	bob.hello("bob")
	if !strings.HasPrefix(annConn, "n1/") {
		t.Fatalf("ann's conn %q, want it on n1", annConn)
	}
	joinRoom(t, ann, "wall")
	// Bob's node has the room's feed once ann's presence reached it: in
	// bob's joined, or in a presence_diff after it.
	if j := joinRoom(t, bob, "wall"); !strings.Contains(mustJSON(t, j["members"]), `"ann"`) {
		for f := bob.nextOfType("presence_diff"); !strings.Contains(mustJSON(t, f["joins"]), `"ann"`); f = bob.nextOfType("presence_diff") {
		}
	}

	ann.sendJSON(map[string]any{"type": "signal", "room": "wall", "key": "cursor", "data": map[string]any{"x": 7}})
	s := bob.nextOfType("signal")
	if s["conn"] != annConn || s["key"] != "cursor" || s["data"].(map[string]any)["x"] != float64(7) {
		t.Fatalf("bob's signal %v", s)
	}

	ann.sendJSON(map[string]any{"type": "presence_set", "room": "wall", "state": map[string]any{"color": "plum"}})
	if st, f := nextState(t, bob, annConn); st != `{"color":"plum"}` {
		t.Fatalf("bob's diff %v", f)
	}
	p := bob.request(map[string]any{"type": "presence", "room": "wall"})
	if !strings.Contains(mustJSON(t, p), `"states":{"`+annConn+`":{"color":"plum"}}`) {
		t.Fatalf("bob's presence %v lacks ann's state", p)
	}

	if f := ann.request(map[string]any{"type": "leave", "room": "wall"}); f["type"] != "left" {
		t.Fatalf("leave: %v", f)
	}
	if st, f := nextState(t, bob, annConn); st != "null" {
		t.Fatalf("bob's diff after ann left %v, want her state cleared", f)
	}
}
