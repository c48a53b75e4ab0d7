package troupe_test

import (
	"encoding/json"
	"testing"

	"github.com/troupe-chat/troupe/clients/go/troupe"
)

// TestSignalsAndPresenceStates: a client's signals reach another client
// with its connection named as its ConnectedEvent named it; its presence
// state shows in the other's PresenceEvent and Presence, a later joiner
// gets it in Joined.States, and after a dropped connection the client sets
// it again by itself on its new connection.
func TestSignalsAndPresenceStates(t *testing.T) {
	srv, url := startServer(t)
	ctx := testCtx(t)
	ann, annRec := dial(t, url, troupe.Options{Name: "ann"})
	bob, bobRec := dial(t, url, troupe.Options{Name: "bob"})
	annConn := await(t, annRec, "ann connected", func(troupe.ConnectedEvent) bool { return true }).Conn
	if annConn == "" {
		t.Fatal("ConnectedEvent names no connection")
	}
	for _, c := range []*troupe.Client{ann, bob} {
		if _, err := c.Join(ctx, "sketch"); err != nil {
			t.Fatal(err)
		}
	}

	if err := ann.Signal(ctx, "sketch", "cursor", json.RawMessage(`{"x":5}`)); err != nil {
		t.Fatal(err)
	}
	s := await(t, bobRec, "ann's cursor", func(e troupe.SignalEvent) bool { return e.Key == "cursor" })
	if s.Room != "sketch" || s.Conn != annConn || s.User.Name != "ann" || string(s.Data) != `{"x":5}` {
		t.Fatalf("bob's signal = %+v", s)
	}

	if err := ann.SetPresence(ctx, "sketch", json.RawMessage(`{"color":"teal"}`)); err != nil {
		t.Fatal(err)
	}
	hasState := func(conn, state string) func(troupe.PresenceEvent) bool {
		return func(e troupe.PresenceEvent) bool {
			for _, st := range e.States {
				if st.Conn == conn && string(st.State) == state {
					return true
				}
			}
			return false
		}
	}
	await(t, bobRec, "ann's state", hasState(annConn, `{"color":"teal"}`))
	members, err := bob.Presence(ctx, "sketch")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range members {
		if m.Name == "ann" && string(m.States[annConn]) == `{"color":"teal"}` {
			found = true
		}
	}
	if !found {
		t.Fatalf("presence %+v lacks ann's state", members)
	}
	carol, _ := dial(t, url, troupe.Options{Name: "carol"})
	j, err := carol.Join(ctx, "sketch")
	if err != nil {
		t.Fatal(err)
	}
	if len(j.States) != 1 || j.States[0].Conn != annConn || string(j.States[0].State) != `{"color":"teal"}` {
		t.Fatalf("carol's joined states = %+v", j.States)
	}

	// Bob sets a state too; ann sees it.
	bobConn := await(t, bobRec, "bob connected", func(troupe.ConnectedEvent) bool { return true }).Conn
	if err := bob.SetPresence(ctx, "sketch", json.RawMessage(`{"color":"gold"}`)); err != nil {
		t.Fatal(err)
	}
	await(t, annRec, "bob's state", hasState(bobConn, `{"color":"gold"}`))

	// Ann's connection is killed: her state goes with it, her client sets
	// it again on the new connection once it has rejoined, and her
	// recovery starts her view of the states over with bob's.
	killConns(t, srv, ann)
	await(t, bobRec, "ann's state cleared", hasState(annConn, "")) // nil: cleared
	next := await(t, annRec, "ann reconnected", func(e troupe.ConnectedEvent) bool { return e.Reconnect }).Conn
	if next == annConn {
		t.Fatalf("the new connection has the old one's name %q", next)
	}
	await(t, bobRec, "ann's state again", hasState(next, `{"color":"teal"}`))
	rec := await(t, annRec, "ann's recovery", func(troupe.RecoveryEvent) bool { return true })
	if len(rec.States) != 1 || rec.States[0].Conn != bobConn || string(rec.States[0].State) != `{"color":"gold"}` {
		t.Fatalf("ann's recovery states = %+v, want bob's only", rec.States)
	}
	if len(rec.Members) != 3 {
		t.Fatalf("ann's recovery members = %+v, want ann, bob and carol", rec.Members)
	}
}
