package troupe_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/troupe-chat/troupe/clients/go/troupe"
)

// TestDocumentRoundTrip: a client's document updates reach another client
// as DocUpdateEvents (never as MessageEvents, while its chat messages stay
// MessageEvents); DocSync pages the whole document, and after a snapshot a
// fresh client gets the snapshot and the updates after it; an update made
// while a connection is down reaches it after the rejoin.
func TestDocumentRoundTrip(t *testing.T) {
	srv, url := startServer(t, "--rate-limit", "0")
	ctx := testCtx(t)
	ann, _ := dial(t, url, troupe.Options{Name: "ann"})
	bob, bobRec := dial(t, url, troupe.Options{Name: "bob"})
	for _, c := range []*troupe.Client{ann, bob} {
		if _, err := c.Join(ctx, "doc"); err != nil {
			t.Fatal(err)
		}
	}

	first, err := ann.DocUpdate(ctx, "doc", []byte{0, 1, 0xff})
	if err != nil || first.Offset != 1 || first.Dup || first.CID == "" {
		t.Fatalf("DocUpdate = %+v, %v", first, err)
	}
	if _, err := ann.Send(ctx, "doc", troupe.Message{Text: "chat"}); err != nil {
		t.Fatal(err)
	}
	u := await(t, bobRec, "ann's update", func(troupe.DocUpdateEvent) bool { return true })
	if u.Room != "doc" || u.Offset != 1 || string(u.Data) != "\x00\x01\xff" || u.From.Name != "ann" || u.MsgID != first.MsgID || u.Replayed {
		t.Fatalf("bob's update = %+v", u)
	}
	await(t, bobRec, "ann's chat", func(e troupe.MessageEvent) bool { return e.Text == "chat" })
	for _, m := range messages(bobRec.snapshot(), "doc") {
		if m.Kind == "doc" {
			t.Fatalf("a document update arrived as a MessageEvent: %+v", m)
		}
	}

	for i := 2; i <= 1203; i++ {
		if _, err := ann.DocUpdate(ctx, "doc", fmt.Appendf(nil, "u%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	st, err := bob.DocSync(ctx, "doc", 0) // more than one page of 1,000
	if err != nil {
		t.Fatal(err)
	}
	if st.Snapshot != nil || len(st.Updates) != 1203 || st.Offset != 1204 || st.Reset {
		t.Fatalf("DocSync = %d updates to %d (snapshot %v)", len(st.Updates), st.Offset, st.Snapshot)
	}
	if st.Updates[1].Offset != 3 || string(st.Updates[1].Data) != "u2" || string(st.Updates[1202].Data) != "u1203" {
		t.Fatalf("DocSync updates %+v … %+v", st.Updates[1], st.Updates[1202])
	}

	kept, stored, err := bob.DocSnapshot(ctx, "doc", 1200, []byte("state to 1200"))
	if err != nil || !stored || kept != 1200 {
		t.Fatalf("DocSnapshot = %d, %v, %v", kept, stored, err)
	}
	if kept, stored, err := ann.DocSnapshot(ctx, "doc", 100, []byte("older")); err != nil || stored || kept != 1200 {
		t.Fatalf("older DocSnapshot = %d, %v, %v; want the kept 1200, not stored", kept, stored, err)
	}
	carol, carolRec := dial(t, url, troupe.Options{Name: "carol"})
	if _, err := carol.Join(ctx, "doc"); err != nil {
		t.Fatal(err)
	}
	st, err = carol.DocSync(ctx, "doc", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range st.Updates {
		got = append(got, string(u.Data))
	}
	if st.Snapshot == nil || st.Snapshot.Offset != 1200 || string(st.Snapshot.Data) != "state to 1200" ||
		!slices.Equal(got, []string{"u1200", "u1201", "u1202", "u1203"}) || st.Offset != 1204 {
		t.Fatalf("carol's DocSync = snapshot %+v, updates %q, offset %d", st.Snapshot, got, st.Offset)
	}

	// Carol's connection drops; an update made about then reaches her,
	// live or replayed by her rejoin, as a DocUpdateEvent.
	killConns(t, srv, carol)
	missed, err := ann.DocUpdate(ctx, "doc", []byte("while away"))
	if err != nil {
		t.Fatal(err)
	}
	r := await(t, carolRec, "the missed update", func(e troupe.DocUpdateEvent) bool { return e.Offset == missed.Offset })
	if string(r.Data) != "while away" || r.From.Name != "ann" {
		t.Fatalf("carol's update after the drop = %+v", r)
	}
}
