package app_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// stateOf returns the JSON of conn's state in a presence_diff or joined
// frame's states, and whether the frame mentions conn.
func stateOf(f map[string]any, conn string) (string, bool) {
	list, _ := f["states"].([]any)
	found, state := false, ""
	for _, e := range list {
		m, _ := e.(map[string]any)
		if m["conn"] == conn {
			b, _ := json.Marshal(m["state"])
			found, state = true, string(b)
		}
	}
	return state, found
}

// nextState skips presence_diffs until one changes conn's state, and
// returns that state's JSON and the diff.
func nextState(t *testing.T, c *rawClient, conn string) (string, map[string]any) {
	t.Helper()
	for {
		f := c.nextOfType("presence_diff")
		if s, ok := stateOf(f, conn); ok {
			return s, f
		}
	}
}

// TestPresenceStatePerConnection: each connection sets its own state in a
// room; presence shows them under the user, per connection; diffs carry
// the changes; a joiner gets the states in joined; a connection that
// leaves clears its state while its user stays present; bad states are
// refused without touching anyone.
func TestPresenceStatePerConnection(t *testing.T) {
	t.Parallel()
	a := startServer(t, "--presence-interval", "20ms")
	addr := a.Addr.String()
	tab1, tab2, bob := mustDial(t, addr), mustDial(t, addr), mustDial(t, addr)
	token := signed(t, jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"sub": "alice", "name": "alice"})
	conn1 := helloConn(t, tab1, token)
	conn2 := helloConn(t, tab2, token)
	bob.hello("bob")
	if conn1 == conn2 {
		t.Fatalf("two connections named %q", conn1)
	}
	for _, c := range []*rawClient{bob, tab1, tab2} {
		joinRoom(t, c, "doc")
	}

	for _, tc := range []struct {
		frame map[string]any
		code  string
	}{
		{map[string]any{"type": "presence_set", "room": "other", "state": map[string]any{}}, "not_joined"},
		{map[string]any{"type": "presence_set", "room": "doc", "state": []any{1}}, "bad_frame"},
		{map[string]any{"type": "presence_set", "room": "doc", "state": map[string]any{"x": strings.Repeat("y", 2000)}}, "invalid"},
	} {
		if f := tab1.request(tc.frame); f["type"] != "error" || f["code"] != tc.code {
			t.Fatalf("%v: got %v, want error %s", tc.frame, f, tc.code)
		}
	}

	tab1.sendJSON(map[string]any{"type": "presence_set", "room": "doc", "state": map[string]any{"color": "red"}})
	if s, f := nextState(t, bob, conn1); s != `{"color":"red"}` {
		t.Fatalf("bob: conn1 state %s in %v", s, f)
	} else if user, _ := f["states"].([]any)[0].(map[string]any)["user"].(map[string]any); user["name"] != "alice" {
		t.Fatalf("bob: state change without its user: %v", f)
	}
	tab2.sendJSON(map[string]any{"type": "presence_set", "room": "doc", "state": map[string]any{"color": "blue", "editing": true}})
	if s, _ := nextState(t, bob, conn2); s != `{"color":"blue","editing":true}` {
		t.Fatalf("bob: conn2 state %s", s)
	}

	p := bob.request(map[string]any{"type": "presence", "room": "doc"})
	members, _ := p["members"].([]any)
	var alice map[string]any
	for _, m := range members {
		if mm := m.(map[string]any); mm["name"] == "alice" {
			alice = mm
		}
	}
	states, _ := json.Marshal(alice["states"])
	want, _ := json.Marshal(map[string]any{conn1: map[string]any{"color": "red"}, conn2: map[string]any{"color": "blue", "editing": true}})
	if alice["conns"] != float64(2) || string(states) != string(want) {
		t.Fatalf("presence alice = %v, want conns 2 and states %s", alice, want)
	}

	carol := mustDial(t, addr)
	carol.hello("carol")
	j := joinRoom(t, carol, "doc")
	if s, ok := stateOf(j, conn1); !ok || s != `{"color":"red"}` {
		t.Fatalf("joined states %v, want conn1 red", j["states"])
	}
	if s, ok := stateOf(j, conn2); !ok || s != `{"color":"blue","editing":true}` {
		t.Fatalf("joined states %v, want conn2 blue", j["states"])
	}

	// tab1 leaves: its state is cleared, alice stays present through tab2.
	if f := tab1.request(map[string]any{"type": "leave", "room": "doc"}); f["type"] != "left" {
		t.Fatalf("leave: %v", f)
	}
	for name, c := range map[string]*rawClient{"bob": bob, "carol": carol} {
		s, f := nextState(t, c, conn1)
		if s != "null" {
			t.Fatalf("%s: conn1 state %s after its leave, want null", name, s)
		}
		if leaves, _ := f["leaves"].([]any); len(leaves) != 0 {
			t.Fatalf("%s: alice left presence with a connection still in the room: %v", name, f)
		}
	}
	// A null state clears it.
	tab2.sendJSON(map[string]any{"type": "presence_set", "room": "doc", "state": nil})
	if s, _ := nextState(t, carol, conn2); s != "null" {
		t.Fatalf("carol: conn2 state %s after clearing, want null", s)
	}
	p = carol.request(map[string]any{"type": "presence", "room": "doc"})
	if strings.Contains(mustJSON(t, p), `"states"`) {
		t.Fatalf("presence after every state cleared: %v", p)
	}
}

// helloConn says hello with token and returns the welcome's conn.
func helloConn(t *testing.T, c *rawClient, token string) string {
	t.Helper()
	w := c.request(map[string]any{"type": "hello", "token": token})
	conn, _ := w["conn"].(string)
	if w["type"] != "welcome" || conn == "" {
		t.Fatalf("hello: %v", w)
	}
	return conn
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
