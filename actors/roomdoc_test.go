package actors

import (
	"bytes"
	"slices"
	"testing"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/storetest"
)

// docOffsets lists the offsets of a reply's updates.
func docOffsets(r DocSyncReply) []uint64 { return storetest.Offsets(r.Updates) }

// TestReadDocPages checks readDoc's pages on a real store: offset 1
// included from the start, limits, the snapshot bound, and the page cut
// after the update that reaches DocSyncMaxBytes.
func TestReadDocPages(t *testing.T) {
	s := persistence.NewMemory()
	st := storetest.MustOpenRoom(t, s, "r")
	storetest.MustAppend(t, s, "r", st.Claim(), storetest.MixedBatch(1, 6, 1, 2, 4, 6))
	for _, c := range []struct {
		after uint64
		limit int
		want  []uint64
		at    uint64
		more  bool
	}{
		{0, 10, []uint64{1, 2, 4, 6}, 6, false},
		{0, 1, []uint64{1}, 1, true},
		{0, 2, []uint64{1, 2}, 2, true},
		{2, 1, []uint64{4}, 4, true},
		{4, 10, []uint64{6}, 6, false},
		{6, 10, []uint64{}, 6, false},
	} {
		r, err := readDoc(t.Context(), s, "r", c.after, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		if got := docOffsets(r); !slices.Equal(got, c.want) || r.Offset != c.at || r.More != c.more || r.Snapshot != nil || r.Gap {
			t.Errorf("readDoc(after %d, limit %d) = %v at %d more %v, want %v at %d more %v", c.after, c.limit, got, r.Offset, r.More, c.want, c.at, c.more)
		}
	}

	if _, stored, err := s.SaveSnapshot(t.Context(), "r", st.Claim(), persistence.Snapshot{Offset: 4, Data: []byte("s")}); err != nil || !stored {
		t.Fatalf("SaveSnapshot: %v %v", stored, err)
	}
	r, err := readDoc(t.Context(), s, "r", 2, 10)
	if err != nil || r.Snapshot == nil || r.Snapshot.Offset != 4 || !slices.Equal(docOffsets(r), []uint64{6}) || r.Offset != 6 {
		t.Fatalf("readDoc after 2 with a snapshot at 4 = %+v, %v", r, err)
	}
	if r, _ := readDoc(t.Context(), s, "r", 4, 10); r.Snapshot != nil || !slices.Equal(docOffsets(r), []uint64{6}) {
		t.Fatalf("readDoc after the snapshot's offset = %+v, want no snapshot", r)
	}

	big := persistence.NewMemory()
	bst := storetest.MustOpenRoom(t, big, "b")
	const each = 100 << 10
	msgs := storetest.MixedBatch(1, 20, storetest.Span(1, 20)...)
	for i := range msgs {
		msgs[i].Data = append(append([]byte{'"'}, bytes.Repeat([]byte("A"), each)...), '"')
	}
	storetest.MustAppend(t, big, "b", bst.Claim(), msgs)
	r, err = readDoc(t.Context(), big, "b", 0, DocSyncMax)
	if n := DocSyncMaxBytes/(each+2) + 1; err != nil || len(r.Updates) != n || !r.More || r.Offset != uint64(n) {
		t.Fatalf("readDoc of 100 KiB updates = %d updates at %d more %v (%v), want %d and more", len(r.Updates), r.Offset, r.More, err, n)
	}
}
