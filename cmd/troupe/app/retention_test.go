package app_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestHistoryRetentionTrimsAndPagingFollows sends 40 messages, restarts the
// server on the same store with --history-retention 15 and a recovery limit
// of 10: the room keeps its latest 15 messages (trimmed in the background),
// a forward history page from the start begins at offset 26, and paging
// backwards ends there; offsets continue at 41.
func TestHistoryRetentionTrimsAndPagingFollows(t *testing.T) {
	store := "sqlite://" + filepath.Join(t.TempDir(), "retention.db")
	a := startServer(t, "--store", store, "--rate-limit", "0")
	c := mustDial(t, a.Addr.String())
	c.hello("ann")
	c.request(map[string]any{"type": "join", "room": "r"})
	for i := 1; i <= 40; i++ {
		c.sendRaw(fmt.Sprintf(`{"type":"send","id":%d,"room":"r","text":"m%d"}`, i, i))
	}
	for i := 1; i <= 40; i++ {
		c.nextOfType("ack")
	}
	shutdown(t, a)

	b := startServer(t, "--store", store, "--rate-limit", "0", "--history-retention", "15", "--recovery-limit", "10")
	d := mustDial(t, b.Addr.String())
	d.hello("bob")
	d.request(map[string]any{"type": "join", "room": "r", "history": 0})
	first := func() map[string]any {
		return d.request(map[string]any{"type": "history", "room": "r", "after": 0, "limit": 5})
	}
	deadline := time.Now().Add(frameWait)
	h := first()
	for offsetsOf(h)[0] != 26 {
		if time.Now().After(deadline) {
			t.Fatalf("history from the start = %v, want it to begin at 26 once trimmed", offsetsOf(h))
		}
		time.Sleep(10 * time.Millisecond) // the trim runs in the background and announces nothing
		h = first()
	}
	if got := offsetsOf(h); fmt.Sprint(got) != "[26 27 28 29 30]" || h["more"] != true {
		t.Fatalf("first page = %v more %v", got, h["more"])
	}
	back := d.request(map[string]any{"type": "history", "room": "r", "before": 28, "limit": 10})
	if got := offsetsOf(back); fmt.Sprint(got) != "[26 27]" || back["more"] != false {
		t.Fatalf("page before 28 = %v more %v, want [26 27] and no more", got, back["more"])
	}
	if f := d.request(map[string]any{"type": "send", "room": "r", "text": "next"}); f["offset"] != float64(41) {
		t.Fatalf("send after trimming = %v, want offset 41", f)
	}
}

// offsetsOf lists the offsets of a history reply's messages.
func offsetsOf(h map[string]any) []int {
	msgs, _ := h["msgs"].([]any)
	out := []int{}
	for _, m := range msgs {
		out = append(out, int(m.(map[string]any)["offset"].(float64)))
	}
	if len(out) == 0 {
		out = append(out, 0)
	}
	return out
}
