package actors

import (
	"slices"
	"strings"
	"testing"

	"github.com/troupe-chat/troupe/persistence/faults"
)

// stateIn returns conn's state in a list of state changes, and whether it
// is there.
func stateIn(list []StateChange, conn string) (string, bool) {
	for _, s := range list {
		if s.Conn == conn {
			return string(s.State), true
		}
	}
	return "", false
}

// nextStateOf skips presence_diffs until one changes conn's state.
func nextStateOf(p *probe, conn string) (string, PresenceDiff) {
	p.k.t.Helper()
	for {
		d := skipTo[PresenceDiff](p)
		if s, ok := stateIn(d.States, conn); ok {
			return s, d
		}
	}
}

// TestClusterSignalsAndStatesCrossNodes: a signal on one node reaches the
// members on the other, named by its node-qualified connection; a presence
// state set on one node shows in the other's diffs, presence and joined,
// and is cleared there when its connection leaves.
func TestClusterSignalsAndStatesCrossNodes(t *testing.T) {
	a, b, _, _ := twoNodes(t)
	ann, annW := a.welcomed("ann", "")
	ann.join("r")
	bob, bobW := b.welcomed("bob", "")
	bob.join("r")
	if !strings.HasPrefix(annW.Conn, "a/") || !strings.HasPrefix(bobW.Conn, "b/") {
		t.Fatalf("welcome conns %q and %q, want node-qualified", annW.Conn, bobW.Conn)
	}

	ann.post(Signal{Room: "r", Key: "cursor", Data: []byte(`{"x":1}`)})
	if s := skipTo[SignalPush](bob); s.Conn != annW.Conn || s.User.Name != "ann" || s.Key != "cursor" || string(s.Data) != `{"x":1}` {
		t.Fatalf("bob's signal = %+v", s)
	}

	bob.post(PresenceSet{Room: "r", State: []byte(`{"c":"red"}`)})
	if s, d := nextStateOf(ann, bobW.Conn); s != `{"c":"red"}` {
		t.Fatalf("ann's diff = %+v", d)
	}
	p := requestOf[PresenceReply](ann, func(id int64) Command { return PresenceQuery{ID: id, Room: "r"} })
	i := slices.IndexFunc(p.Members, func(m PresenceMember) bool { return m.ID == bobW.User.ID })
	if i < 0 || len(p.Members[i].States) != 1 || p.Members[i].States[0].Conn != bobW.Conn {
		t.Fatalf("ann's presence = %+v, want bob with his state", p)
	}
	carol := a.member("carol")
	if s, ok := stateIn(carol.join("r").States, bobW.Conn); !ok || s != `{"c":"red"}` {
		t.Fatal("carol's joined lists no state of bob's connection")
	}

	bob.post(Leave{ID: 9, Room: "r"})
	if s, d := nextStateOf(ann, bobW.Conn); s != "" {
		t.Fatalf("ann's diff after bob left = %+v, want his state cleared", d)
	}
}

// TestNetPresenceLastStateWins folds several state changes of one
// connection, around a join, into the last one.
func TestNetPresenceLastStateWins(t *testing.T) {
	u, v := UserRef{ID: "u", Name: "U"}, UserRef{ID: "v", Name: "V"}
	diff, changed := netPresence("r", []presenceEvent{
		{user: u, isState: true, conn: "1", state: []byte(`{"a":1}`)},
		{user: v, join: true},
		{user: u, isState: true, conn: "2", state: []byte(`{"b":1}`)},
		{user: u, isState: true, conn: "1", state: []byte(`{"a":2}`)},
		{user: u, isState: true, conn: "2"},
	})
	if !changed || len(diff.Joins) != 1 || len(diff.States) != 2 {
		t.Fatalf("diff = %+v", diff)
	}
	if s, _ := stateIn(diff.States, "1"); s != `{"a":2}` {
		t.Fatalf("conn 1 = %s, want its last state", s)
	}
	if s, ok := stateIn(diff.States, "2"); !ok || s != "" {
		t.Fatalf("conn 2 = %q (%v), want cleared", s, ok)
	}
	if _, changed := netPresence("r", nil); changed {
		t.Fatal("an empty run changed presence")
	}
}

// TestLoadingRoomDropsSignalsPastItsBound: a room that is reloading (its
// store stalled after a crash) holds what its members send up to its
// pending bound; past it a signal is dropped (counted) and a presence_set
// answered unavailable, and what it held is handled once it has loaded.
func TestLoadingRoomDropsSignalsPastItsBound(t *testing.T) {
	k := newKit(t, func(c *Config) { c.MaxPendingPerRoom = 2 })
	ann, bob := k.member("ann"), k.member("bob")
	ann.join("r")
	bob.join("r")
	hit := k.store.Inject(faults.Stall)
	if !k.eng.CrashRoom("r") {
		t.Fatal("no room to crash")
	}
	<-hit // the restarted room's load waits for the store
	for i := range 3 {
		ann.post(Signal{Room: "r", Key: "cursor", Data: []byte{byte('1' + i)}})
	}
	ann.post(PresenceSet{ID: 5, Room: "r", State: []byte(`{"c":1}`)})
	if e := skipTo[ErrorFrame](ann); e.ID != 5 || e.Code != CodeUnavailable {
		t.Fatalf("ann's error = %+v, want unavailable for the presence_set", e)
	}
	if n := testCounter(k.metrics.Drops.WithLabelValues("ephemeral")); n != 1 {
		t.Fatalf("ephemeral drops = %v, want 1", n)
	}
	k.store.Heal()
	for want := range 2 {
		if s := skipTo[SignalPush](bob); string(s.Data) != string(rune('1'+want)) {
			t.Fatalf("bob's signal %d = %s", want, s.Data)
		}
	}
}
