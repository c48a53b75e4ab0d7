package actors

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/troupe-chat/troupe/persistence"
)

// Connection, heartbeat, sessions and user actor tests on the kit.

// TestHeartbeatClosesSilentConnectionsOnTheClock: a connection without hello
// is closed with 1008 at the hello deadline, a welcomed one that sends
// nothing with 4000 once idle past the timeout, and one that talks stays.
func TestHeartbeatClosesSilentConnectionsOnTheClock(t *testing.T) {
	k := newKit(t, nil)
	cfg := DefaultConfig()
	silent := k.connect("silent")
	// The connection actor arms its hello deadline as it starts, which no
	// frame announces: move the clock on until the deadline has passed.
	eventually(t, "the silent connection is closed", func() bool {
		k.clock.Advance(cfg.HelloTimeout)
		return silent.closeCode() != 0
	})
	if code := silent.closeCode(); code != ClosePolicy {
		t.Fatalf("no hello: closed with %d, want %d", code, ClosePolicy)
	}
	mute, chatty := k.member("mute"), k.member("chatty")
	for elapsed := cfg.HelloTimeout; elapsed <= cfg.IdleTimeout+2*cfg.HeartbeatInterval; elapsed += cfg.HeartbeatInterval {
		requestOf[Pong](chatty, func(id int64) Command { return Ping{ID: id} })
		k.clock.Advance(cfg.HeartbeatInterval)
	}
	if code := mute.awaitClose(); code != CloseIdle {
		t.Fatalf("idle: closed with %d, want %d", code, CloseIdle)
	}
	if pong := requestOf[Pong](chatty, func(id int64) Command { return Ping{ID: id} }); pong.ServerTime != k.clock.Now().UnixMilli() {
		t.Fatalf("pong = %+v, want the fake clock's time", pong)
	}
}

// TestSessionResumesWithinGraceOnly: a client that reconnects with its
// session id within the grace resumes it (same user, memberships kept); past
// the grace, the id opens a new session.
func TestSessionResumesWithinGraceOnly(t *testing.T) {
	k := newKit(t, quickPresence)
	first, w := k.welcomed("ann", "")
	if w.Resumed {
		t.Fatalf("first welcome resumed: %+v", w)
	}
	first.join("r")
	first.Close(1006, "dropped")
	again, w2 := k.welcomed("ann", w.Session)
	if !w2.Resumed || w2.Session != w.Session || w2.User.ID != w.User.ID {
		t.Fatalf("welcome within the grace = %+v, want session %s resumed as %s", w2, w.Session, w.User.ID)
	}
	again.Close(1006, "dropped")
	// The sessions actor arms the grace when it hears of the drop, which
	// tells no client: move the clock on until the session has expired.
	eventually(t, "the session expires", func() bool {
		k.clock.Advance(DefaultConfig().SessionGrace)
		return gaugeValue(t, k.metrics.SessionsActive) == 0
	})
	_, w3 := k.welcomed("ann", w.Session)
	if w3.Resumed || w3.Session == w.Session {
		t.Fatalf("welcome past the grace = %+v, want a new session", w3)
	}
}

// TestDirectReachesEveryConnectionOfTheUser: a direct message goes to each
// live connection of its addressee (the user actor fans it out), the sender
// gets an ack, and a user with no live connection is an error.
func TestDirectReachesEveryConnectionOfTheUser(t *testing.T) {
	k := newKit(t, nil)
	ann := k.member("ann")
	bob1, bob2 := k.signedIn("bob"), k.signedIn("bob") // two tabs of one user
	ack := requestOf[Ack](ann, func(id int64) Command { return Direct{ID: id, To: "bob", Text: "psst"} })
	if ack.Room != "" || ack.TS != k.clock.Now().UnixMilli() {
		t.Fatalf("direct ack = %+v", ack)
	}
	for _, p := range []*probe{bob1, bob2} {
		if d := skipTo[DirectPush](p); d.Text != "psst" || d.From.Name != "ann" {
			t.Fatalf("%s got %+v", p.name, d)
		}
	}
	if e := requestOf[ErrorFrame](ann, func(id int64) Command { return Direct{ID: id, To: "nobody", Text: "?"} }); e.Code != CodeNoSuchUser {
		t.Fatalf("direct to nobody = %+v, want %s", e, CodeNoSuchUser)
	}
}

// gaugeValue reads a gauge's current value.
func gaugeValue(t testing.TB, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

// TestSessionResumesOnAnotherEngine drops a connection on one engine and
// resumes its session on a second engine over the same store (another node,
// or this one restarted): the record saved at the drop is loaded, the user
// is the same anonymous user, and a session past its grace is not resumed.
func TestSessionResumesOnAnotherEngine(t *testing.T) {
	mem := persistence.NewMemory()
	first := newKitOn(t, mem, quickPresence)
	p, w := first.welcomed("ann", "")
	p.Close(1006, "dropped")
	eventually(t, "the dropped session is saved with its expiry", func() bool {
		rec, err := mem.LoadSession(t.Context(), w.Session)
		return err == nil && !rec.Expires.IsZero()
	})

	second := newKitOn(t, mem, quickPresence)
	second.clock.Advance(first.clock.Since(second.clock.Now())) // the nodes share a clock
	_, again := second.welcomed("ann", w.Session)
	if !again.Resumed || again.Session != w.Session || again.User.ID != w.User.ID {
		t.Fatalf("resume on the second engine = %+v, want session %s of %s", again, w.Session, w.User.ID)
	}
	rec, err := mem.LoadSession(t.Context(), w.Session)
	if err != nil || rec.UserID != w.User.ID || !rec.Anonymous || rec.Name != "ann" {
		t.Fatalf("record after the resume = %+v, %v", rec, err)
	}

	third := newKitOn(t, mem, quickPresence)
	third.clock.Advance(first.clock.Since(third.clock.Now()) + DefaultConfig().SessionGrace + time.Second)
	if err := mem.SaveSession(t.Context(), persistence.SessionRecord{ID: "s_old", UserID: "anon-old", Anonymous: true,
		Expires: third.clock.Now().Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	if _, w4 := third.welcomed("ann", "s_old"); w4.Resumed || w4.User.ID == "anon-old" {
		t.Fatalf("resume of an expired record = %+v, want a new session", w4)
	}
}
