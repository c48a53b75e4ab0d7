package app_test

import (
	"encoding/base64"
	"fmt"
	"slices"
	"testing"
)

// docUpdate sends a doc_update of data (base64-encoded here) and returns
// its reply.
func docUpdate(t *testing.T, c *rawClient, room string, data []byte, cid string) map[string]any {
	t.Helper()
	f := map[string]any{"type": "doc_update", "room": room, "data": base64.StdEncoding.EncodeToString(data)}
	if cid != "" {
		f["cid"] = cid
	}
	return c.request(f)
}

// mustDocUpdate is docUpdate failing the test unless it is acked.
func mustDocUpdate(t *testing.T, c *rawClient, room string, data []byte, cid string) map[string]any {
	t.Helper()
	ack := docUpdate(t, c, room, data, cid)
	if ack["type"] != "ack" || ack["room"] != room || ack["dup"] != false {
		t.Fatalf("doc_update %q: %v", data, ack)
	}
	return ack
}

// docSync sends a doc_sync and returns its reply, failing the test unless
// it is one.
func docSync(t *testing.T, c *rawClient, room string, after, limit int) map[string]any {
	t.Helper()
	f := map[string]any{"type": "doc_sync", "room": room, "after": after}
	if limit > 0 {
		f["limit"] = limit
	}
	r := c.request(f)
	if r["type"] != "doc_sync" || r["room"] != room {
		t.Fatalf("doc_sync after %d: %v", after, r)
	}
	return r
}

// docState is what a doc_sync paged to its end gave: the snapshot's data
// ("" without one) and offset, and the updates after it.
type docState struct {
	snapshot string
	snapAt   float64
	updates  []string  // decoded data, in order
	offsets  []float64 // their offsets
	offset   float64   // where the client stands
}

// syncAll pages doc_sync from after 0 until more is false.
func syncAll(t *testing.T, c *rawClient, room string, limit int) docState {
	t.Helper()
	var st docState
	after := 0
	for page := 0; ; page++ {
		r := docSync(t, c, room, after, limit)
		if s, ok := r["snapshot"].(map[string]any); ok {
			if page > 0 {
				t.Fatalf("page %d carries a snapshot: %v", page, r)
			}
			st.snapshot, st.snapAt = decode64(t, s["data"]), s["offset"].(float64)
		}
		for _, u := range r["updates"].([]any) {
			m := u.(map[string]any)
			if m["kind"] != "doc" || m["text"] != "" {
				t.Fatalf("doc_sync update %v, want kind doc without text", m)
			}
			st.updates = append(st.updates, decode64(t, m["data"]))
			st.offsets = append(st.offsets, m["offset"].(float64))
		}
		st.offset = r["offset"].(float64)
		if r["more"] != true {
			return st
		}
		after = int(st.offset)
	}
}

// decode64 decodes a base64 JSON string value.
func decode64(t *testing.T, v any) string {
	t.Helper()
	s, _ := v.(string)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || s == "" {
		t.Fatalf("data %v is not base64: %v", v, err)
	}
	return string(b)
}

// TestDocUpdatesAreStreamMessages: a doc_update is acked like a send,
// reaches the other members as a message of kind doc, and a repeat of its
// cid gets the original ack with dup true; bad frames get their error
// codes and leave the connection and the room working.
func TestDocUpdatesAreStreamMessages(t *testing.T) {
	t.Parallel()
	a := startServer(t, "--api-key", testAPIKey)
	addr := a.Addr.String()
	alice, _ := joinedClient(t, addr, "alice", "notes")
	bob, _ := joinedClient(t, addr, "bob", "notes")

	ack := mustDocUpdate(t, alice, "notes", []byte{0, 1, 2, 250}, "c-1")
	if ack["offset"] != float64(1) {
		t.Fatalf("first doc_update acked at %v, want 1", ack["offset"])
	}
	m := messagesOf(bob.nextOfType("message"))
	if len(m) != 1 || m[0]["kind"] != "doc" || m[0]["text"] != "" || m[0]["data"] != "AAEC+g==" ||
		m[0]["offset"] != float64(1) || m[0]["id"] != ack["msg_id"] || m[0]["from"].(map[string]any)["name"] != "alice" {
		t.Fatalf("bob got %v", m)
	}
	dup := docUpdate(t, alice, "notes", []byte("other"), "c-1")
	if dup["type"] != "ack" || dup["dup"] != true || dup["offset"] != ack["offset"] || dup["msg_id"] != ack["msg_id"] || dup["ts"] != ack["ts"] {
		t.Fatalf("repeated cid: %v, want the original ack %v with dup", dup, ack)
	}

	for _, c := range []struct {
		frame map[string]any
		code  string
	}{
		{map[string]any{"type": "doc_update", "room": "notes", "data": "not base64!"}, "invalid"},
		{map[string]any{"type": "doc_update", "room": "notes", "data": "AAE"}, "invalid"},
		{map[string]any{"type": "doc_update", "room": "notes", "data": ""}, "invalid"},
		{map[string]any{"type": "doc_update", "room": "notes"}, "invalid"},
		{map[string]any{"type": "doc_update", "room": "notes", "data": 5}, "bad_frame"},
		{map[string]any{"type": "doc_update", "room": "elsewhere", "data": "AAE="}, "not_joined"},
		{map[string]any{"type": "send", "room": "notes", "kind": "doc", "data": "AAE="}, "invalid"},
		{map[string]any{"type": "doc_sync", "room": "elsewhere"}, "not_joined"},
		{map[string]any{"type": "doc_sync", "room": "notes", "limit": 5001}, "invalid"},
		{map[string]any{"type": "doc_snapshot", "room": "elsewhere", "offset": 1, "data": "AAE="}, "not_joined"},
		{map[string]any{"type": "doc_snapshot", "room": "notes", "offset": 0, "data": "AAE="}, "invalid"},
		{map[string]any{"type": "doc_snapshot", "room": "notes", "offset": 2, "data": "AAE="}, "invalid"},
		{map[string]any{"type": "doc_snapshot", "room": "notes", "offset": 1, "data": "A A="}, "invalid"},
		{map[string]any{"type": "doc_snapshot", "room": "notes", "offset": 1}, "invalid"},
	} {
		if r := alice.request(c.frame); r["type"] != "error" || r["code"] != c.code {
			t.Errorf("%v: %v, want error %s", c.frame, r, c.code)
		}
	}
	if code, v := apiCall(t, addr, testAPIKey, "POST", "/api/publish", `{"room":"notes","kind":"doc","data":"AAE="}`); code != 400 || errorCode(v) != "invalid" {
		t.Errorf("API publish of kind doc: %d %v, want 400 invalid", code, v)
	}

	// The room and both connections carry on: the next message is offset 2.
	if ack := alice.request(map[string]any{"type": "send", "room": "notes", "text": "still here"}); ack["type"] != "ack" || ack["offset"] != float64(2) {
		t.Fatalf("send after the refused frames: %v", ack)
	}
	if m := messagesOf(bob.nextOfType("message")); len(m) != 1 || m[0]["text"] != "still here" {
		t.Fatalf("bob got %v, want the text message (and no refused update)", m)
	}
	st := syncAll(t, bob, "notes", 0)
	if st.snapshot != "" || !slices.Equal(st.updates, []string{"\x00\x01\x02\xfa"}) || st.offset != 1 {
		t.Fatalf("doc_sync = %+v, want the one update", st)
	}
}

// TestDocSyncPagesFromTheSnapshot: doc_sync pages the doc updates only
// (never chat messages) with more and offset; a snapshot is kept when it
// is newer than the kept one, and a fresh member then gets the snapshot
// and the updates after it.
func TestDocSyncPagesFromTheSnapshot(t *testing.T) {
	t.Parallel()
	a := startServer(t, "--rate-limit", "0")
	addr := a.Addr.String()
	alice, _ := joinedClient(t, addr, "alice", "notes")
	for i := 1; i <= 6; i++ {
		if i == 3 {
			alice.request(map[string]any{"type": "send", "room": "notes", "text": "chat"})
		}
		mustDocUpdate(t, alice, "notes", fmt.Appendf(nil, "u%d", i), "")
	}
	// Offsets: u1 1, u2 2, chat 3, u3 4, u4 5, u5 6, u6 7.
	r := docSync(t, alice, "notes", 0, 2)
	if _, ok := r["snapshot"]; ok || r["offset"] != float64(2) || r["more"] != true || len(r["updates"].([]any)) != 2 {
		t.Fatalf("first page: %v", r)
	}
	if _, ok := r["gap"]; ok {
		t.Fatalf("a page without a gap says gap: %v", r)
	}
	st := syncAll(t, alice, "notes", 2)
	if !slices.Equal(st.updates, []string{"u1", "u2", "u3", "u4", "u5", "u6"}) ||
		!slices.Equal(st.offsets, []float64{1, 2, 4, 5, 6, 7}) || st.offset != 7 {
		t.Fatalf("paged sync = %+v", st)
	}

	snap := base64.StdEncoding.EncodeToString([]byte("state to 5"))
	if r := alice.request(map[string]any{"type": "doc_snapshot", "room": "notes", "offset": 5, "data": snap}); r["type"] != "doc_snapshot" || r["stored"] != true || r["offset"] != float64(5) {
		t.Fatalf("doc_snapshot at 5: %v", r)
	}
	if r := alice.request(map[string]any{"type": "doc_snapshot", "room": "notes", "offset": 4, "data": "AAE="}); r["stored"] != false || r["offset"] != float64(5) {
		t.Fatalf("older doc_snapshot: %v, want not stored, kept 5", r)
	}

	carol, _ := joinedClient(t, addr, "carol", "notes")
	st = syncAll(t, carol, "notes", 0)
	if st.snapshot != "state to 5" || st.snapAt != 5 || !slices.Equal(st.updates, []string{"u5", "u6"}) || st.offset != 7 {
		t.Fatalf("fresh member's sync = %+v, want the snapshot at 5 and u5, u6", st)
	}
	r = docSync(t, carol, "notes", 5, 0)
	if _, ok := r["snapshot"]; ok || r["offset"] != float64(7) || len(r["updates"].([]any)) != 2 {
		t.Fatalf("sync after the snapshot's offset: %v, want u5, u6 without the snapshot", r)
	}
	r = docSync(t, carol, "notes", 7, 0)
	if _, ok := r["snapshot"]; ok || r["offset"] != float64(7) || r["more"] != false || len(r["updates"].([]any)) != 0 {
		t.Fatalf("sync at the end: %v", r)
	}
	// since recovery returns doc updates like any message.
	dave := mustDial(t, addr)
	dave.hello("dave")
	epoch := joinRoom(t, dave, "notes")["epoch"]
	if r := dave.request(map[string]any{"type": "leave", "room": "notes"}); r["type"] != "left" {
		t.Fatalf("leave: %v", r)
	}
	rec := dave.request(map[string]any{"type": "join", "room": "notes", "since": map[string]any{"offset": 4, "epoch": epoch}})
	var kinds []any
	for _, m := range rec["messages"].([]any) {
		kinds = append(kinds, m.(map[string]any)["kind"])
	}
	if rec["recovered"] != true || !slices.Equal(kinds, []any{"doc", "doc", "doc"}) {
		t.Fatalf("recovery since 4: %v, want the doc updates 5..7", rec)
	}
}
