package troupe_test

import (
	"bytes"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/troupe-chat/troupe/clients/go/troupe"
)

// rawTap is an Options.OnRawPush that keeps a copy of every frame it is
// offered and consumes message frames while consume is set.
type rawTap struct {
	consume  atomic.Bool
	consumed chan []byte // told of each consumed frame
	mu       sync.Mutex
	offered  [][]byte // guarded by mu
}

func (tp *rawTap) hook(frame []byte) bool {
	cp := bytes.Clone(frame)
	tp.mu.Lock()
	tp.offered = append(tp.offered, cp)
	tp.mu.Unlock()
	if !tp.consume.Load() || !bytes.HasPrefix(frame, []byte(`{"type":"message"`)) {
		return false
	}
	tp.consumed <- cp
	return true
}

// TestOnRawPush: a push the hook consumes yields no event and leaves the
// room's position where it was, so a reconnect replays it; a push it
// declines becomes an event as usual; replies never reach the hook and still
// resolve their requests.
func TestOnRawPush(t *testing.T) {
	srv, url := startServer(t)
	ctx := testCtx(t)
	tap := &rawTap{consumed: make(chan []byte, 16)}
	tap.consume.Store(true)
	bob, bobEv := dial(t, url, troupe.Options{Name: "bob", OnRawPush: tap.hook})
	alice, _ := dial(t, url, troupe.Options{Name: "alice"})
	joined, err := bob.Join(ctx, "tap")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Join(ctx, "tap"); err != nil {
		t.Fatal(err)
	}
	// A presence_diff is offered, declined, and delivered.
	if diff := await[troupe.PresenceEvent](t, bobEv, "alice's join", nil); len(diff.Joins) != 1 || diff.Joins[0].ID != alice.User().ID {
		t.Errorf("presence %+v, want alice joining", diff)
	}

	counted, err := alice.Send(ctx, "tap", troupe.Message{Text: "counted"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-tap.consumed:
		if !bytes.Contains(f, []byte(`"text":"counted"`)) {
			t.Errorf("consumed %s, want alice's message", f)
		}
	case <-ctx.Done():
		t.Fatal("the hook was never offered alice's message")
	}
	if pos, _ := bob.Position("tap"); pos.Offset != joined.Offset {
		t.Errorf("position %d after a consumed message, want %d (unchanged)", pos.Offset, joined.Offset)
	}

	// A reconnect replays the consumed message: it is the first message event.
	killConns(t, srv, alice, bob)
	replayed := await[troupe.MessageEvent](t, bobEv, "the replay", nil)
	if replayed.Offset != counted.Offset || replayed.Text != "counted" || !replayed.Replayed {
		t.Errorf("first message event %+v, want the consumed message replayed at %d", replayed, counted.Offset)
	}

	tap.consume.Store(false)
	passed, err := alice.Send(ctx, "tap", troupe.Message{Text: "passed"})
	if err != nil {
		t.Fatal(err)
	}
	evs := bobEv.until(t, "the declined message", func(evs []troupe.Event) bool { return len(messages(evs, "tap")) == 2 })
	if m := messages(evs, "tap")[1]; m.Offset != passed.Offset || m.Text != "passed" || m.Replayed {
		t.Errorf("second message event %+v, want the declined push at %d", m, passed.Offset)
	}

	// Replies resolve requests while the hook is set, and none was offered.
	if _, err := bob.Send(ctx, "tap", troupe.Message{Text: "own"}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	tap.mu.Lock()
	defer tap.mu.Unlock()
	types := map[string]int{}
	for _, f := range tap.offered {
		var head struct {
			Type string `json:"type"`
			ID   *int64 `json:"id"`
		}
		if err := json.Unmarshal(f, &head); err != nil {
			t.Fatalf("offered an undecodable frame %s: %v", f, err)
		}
		if head.ID != nil {
			t.Errorf("offered a reply: %s", f)
		}
		types[head.Type]++
	}
	if types["message"] != 2 || types["presence_diff"] == 0 {
		t.Errorf("offered frame types %v, want 2 messages and presence diffs", types)
	}
}
