package app_test

import (
	"encoding/base64"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestDocRetentionStopsAtUncoveredUpdates: a room of 40 messages, doc
// updates at 11..20 and a snapshot covering 15, restarted with a history
// retention of 15 messages (and a recovery limit of 10). Retention would keep 26..40, but it trims only
// up to the first doc update the snapshot does not cover: the room keeps
// 16..40, and a fresh sync gets the snapshot and the updates 16..20.
func TestDocRetentionStopsAtUncoveredUpdates(t *testing.T) {
	store := "sqlite://" + filepath.Join(t.TempDir(), "retention.db")
	a := startServer(t, "--store", store, "--rate-limit", "0")
	c := mustDial(t, a.Addr.String())
	c.hello("ann")
	joinRoom(t, c, "r")
	for i := 1; i <= 40; i++ {
		if i > 10 && i <= 20 {
			mustDocUpdate(t, c, "r", fmt.Appendf(nil, "u%d", i), "")
			continue
		}
		if f := c.request(map[string]any{"type": "send", "room": "r", "text": fmt.Sprintf("m%d", i)}); f["offset"] != float64(i) {
			t.Fatalf("send %d: %v", i, f)
		}
	}
	snap := base64.StdEncoding.EncodeToString([]byte("state to 15"))
	if r := c.request(map[string]any{"type": "doc_snapshot", "room": "r", "offset": 15, "data": snap}); r["stored"] != true {
		t.Fatalf("doc_snapshot: %v", r)
	}
	shutdown(t, a)

	b := startServer(t, "--store", store, "--rate-limit", "0", "--history-retention", "15", "--recovery-limit", "10")
	d := mustDial(t, b.Addr.String())
	d.hello("bob")
	d.request(map[string]any{"type": "join", "room": "r", "history": 0})
	first := func() []int {
		return offsetsOf(d.request(map[string]any{"type": "history", "room": "r", "after": 0, "limit": 5}))
	}
	deadline := time.Now().Add(frameWait)
	for got := first(); got[0] != 16; got = first() {
		if got[0] > 16 || time.Now().After(deadline) {
			t.Fatalf("history from the start = %v, want it to begin at 16 (the first uncovered doc update) once trimmed", got)
		}
		time.Sleep(10 * time.Millisecond) // the trim runs in the background and announces nothing
	}
	st := syncAll(t, d, "r", 0)
	if st.snapshot != "state to 15" || !slices.Equal(st.updates, []string{"u16", "u17", "u18", "u19", "u20"}) || st.offset != 20 {
		t.Fatalf("sync after retention = %+v, want the snapshot at 15 and u16..u20", st)
	}
}
