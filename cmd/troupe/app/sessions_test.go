package app_test

import (
	"path/filepath"
	"testing"
)

// TestSessionSurvivesARestart: a client whose server is restarted (a deploy)
// resumes its session on the new server from the store, as the same
// anonymous user, within the grace period.
func TestSessionSurvivesARestart(t *testing.T) {
	store := "sqlite://" + filepath.Join(t.TempDir(), "sessions.db")
	a := startServer(t, "--store", store)
	c := mustDial(t, a.Addr.String())
	w := c.hello("ann")
	shutdown(t, a) // closes c with 1001; the session is saved with its expiry

	b := startServer(t, "--store", store)
	d := mustDial(t, b.Addr.String())
	again := d.request(map[string]any{"type": "hello", "name": "ann", "session": w["session"]})
	if again["type"] != "welcome" || again["resumed"] != true || again["session"] != w["session"] {
		t.Fatalf("hello with the session after a restart = %v, want it resumed", again)
	}
	if u, u0 := again["user"].(map[string]any), w["user"].(map[string]any); u["id"] != u0["id"] {
		t.Fatalf("user after the restart = %v, want %v", u, u0)
	}
}
