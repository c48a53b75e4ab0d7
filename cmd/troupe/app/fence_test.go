package app_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/sqlite"
)

// TestFencedRoomStopsWithoutAcking has another owner claim a live room in the
// store behind the server's back, as a node of a cluster would: the room's
// next append is refused (ErrFenced), so the send is answered unavailable,
// never acked, and the members are told room_closed "moved". Joining again
// claims the room anew; the retried send is stored once, after everything
// acked before.
func TestFencedRoomStopsWithoutAcking(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fence.db")
	a := startServer(t, "--store", "sqlite://"+path, "--rate-limit", "0")
	addr := a.Addr.String()
	ann, bob := mustDial(t, addr), mustDial(t, addr)
	ann.hello("ann")
	bob.hello("bob")
	for _, c := range []*rawClient{ann, bob} {
		if f := c.request(map[string]any{"type": "join", "room": "r"}); f["type"] != "joined" {
			t.Fatalf("join: %v", f)
		}
	}
	if f := ann.request(map[string]any{"type": "send", "room": "r", "text": "one", "cid": "c1"}); f["type"] != "ack" || f["offset"] != float64(1) {
		t.Fatalf("first send: %v, want ack at offset 1", f)
	}

	other, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	stolen, err := other.OpenRoom(t.Context(), "r")
	if err != nil {
		t.Fatalf("claiming the room from a second owner: %v", err)
	}

	if f := ann.request(map[string]any{"type": "send", "room": "r", "text": "two", "cid": "c2"}); f["type"] != "error" || f["code"] != "unavailable" {
		t.Fatalf("send after the room was claimed elsewhere: %v, want error unavailable", f)
	}
	for name, c := range map[string]*rawClient{"ann": ann, "bob": bob} {
		if f := c.nextOfType("room_closed"); f["room"] != "r" || f["reason"] != "moved" {
			t.Fatalf("%s: %v, want room_closed moved", name, f)
		}
	}

	if f := ann.request(map[string]any{"type": "join", "room": "r"}); f["type"] != "joined" {
		t.Fatalf("join after the move: %v", f)
	}
	if f := ann.request(map[string]any{"type": "send", "room": "r", "text": "two", "cid": "c2"}); f["type"] != "ack" || f["offset"] != float64(2) {
		t.Fatalf("retried send: %v, want ack at offset 2", f)
	}
	if err := other.Append(t.Context(), "r", stolen.Claim(), []persistence.Message{{Offset: 3, ID: "m_x", Kind: "text"}}); !errors.Is(err, persistence.ErrFenced) {
		t.Fatalf("append under the claim the server took back: %v, want ErrFenced", err)
	}
	res, err := other.Read(t.Context(), "r", persistence.ReadQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Messages) != 2 || res.Messages[0].Text != "one" || res.Messages[1].Text != "two" {
		t.Fatalf("stored stream = %+v, want one, two", res.Messages)
	}
}
