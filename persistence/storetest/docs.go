package storetest

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/troupe-chat/troupe/persistence"
)

// DocMsg returns a document update (kind persistence.KindDoc) at offset off:
// Msg's fields, with a base64 JSON string as Data and no text.
func DocMsg(off uint64) persistence.Message {
	m := Msg(off)
	m.Kind, m.Text, m.Data = persistence.KindDoc, "", []byte(`"AAE="`)
	return m
}

// MixedBatch returns messages from..from+n-1 where the offsets in docs are
// document updates (DocMsg) and the others text messages (Msg).
func MixedBatch(from uint64, n int, docs ...uint64) []persistence.Message {
	out := Batch(from, n)
	for i := range out {
		if slices.Contains(docs, out[i].Offset) {
			out[i] = DocMsg(out[i].Offset)
		}
	}
	return out
}

// MustSaveSnapshot saves a snapshot or fails the test.
func MustSaveSnapshot(t testing.TB, s persistence.Store, room string, c persistence.Claim, snap persistence.Snapshot) (persistence.Snapshot, bool) {
	t.Helper()
	kept, stored, err := s.SaveSnapshot(t.Context(), room, c, snap)
	if err != nil {
		t.Fatalf("SaveSnapshot(%q, offset %d): %v", room, snap.Offset, err)
	}
	return kept, stored
}

// MustLoadSnapshot loads the room's snapshot or fails the test.
func MustLoadSnapshot(t testing.TB, s persistence.Store, room string) (persistence.Snapshot, bool) {
	t.Helper()
	snap, ok, err := s.LoadSnapshot(t.Context(), room)
	if err != nil {
		t.Fatalf("LoadSnapshot(%q): %v", room, err)
	}
	return snap, ok
}

// sameSnapshot reports whether a and b are equal.
func sameSnapshot(a, b persistence.Snapshot) bool {
	return a.Offset == b.Offset && a.TS == b.TS && bytes.Equal(a.Data, b.Data)
}

// runDocs checks DocStore, Read's Kind filter and Trim's snapshot bound.
func runDocs(t *testing.T, open func(t *testing.T) persistence.Store) {
	t.Run("SnapshotKeepsTheNewest", func(t *testing.T) {
		s := open(t)
		if _, ok := MustLoadSnapshot(t, s, "nowhere"); ok {
			t.Fatal("LoadSnapshot of an unknown room found one")
		}
		st := Seed(t, s, "r", 5)
		if _, ok := MustLoadSnapshot(t, s, "r"); ok {
			t.Fatal("LoadSnapshot of a room without a snapshot found one")
		}
		three := persistence.Snapshot{Offset: 3, Data: []byte{0, 1, 2, 0xff}, TS: 42}
		if kept, stored := MustSaveSnapshot(t, s, "r", st.Claim(), three); !stored || !sameSnapshot(kept, three) {
			t.Fatalf("first SaveSnapshot = %+v, %v; want it stored", kept, stored)
		}
		if got, ok := MustLoadSnapshot(t, s, "r"); !ok || !sameSnapshot(got, three) {
			t.Fatalf("LoadSnapshot = %+v, %v; want %+v", got, ok, three)
		}
		for _, off := range []uint64{3, 2} {
			older := persistence.Snapshot{Offset: off, Data: []byte("older"), TS: 43}
			if kept, stored := MustSaveSnapshot(t, s, "r", st.Claim(), older); stored || !sameSnapshot(kept, three) {
				t.Fatalf("SaveSnapshot at %d over 3 = %+v, %v; want the kept one, not stored", off, kept, stored)
			}
		}
		five := persistence.Snapshot{Offset: 5, Data: []byte("five"), TS: 44}
		if _, stored := MustSaveSnapshot(t, s, "r", st.Claim(), five); !stored {
			t.Fatal("a newer snapshot was not stored")
		}
		if got, _ := MustLoadSnapshot(t, s, "r"); !sameSnapshot(got, five) {
			t.Fatalf("LoadSnapshot = %+v, want %+v", got, five)
		}
	})

	t.Run("SnapshotRejectsBadInput", func(t *testing.T) {
		s := open(t)
		st := Seed(t, s, "r", 5)
		for _, bad := range []persistence.Snapshot{
			{Offset: 0, Data: []byte("x")},
			{Offset: 6, Data: []byte("x")},
			{Offset: math.MaxUint64, Data: []byte("x")},
			{Offset: 2},
		} {
			if _, _, err := s.SaveSnapshot(t.Context(), "r", st.Claim(), bad); !errors.Is(err, persistence.ErrInvalidSnapshot) {
				t.Errorf("SaveSnapshot(offset %d, %d bytes) = %v, want ErrInvalidSnapshot", bad.Offset, len(bad.Data), err)
			}
		}
		ok := persistence.Snapshot{Offset: 2, Data: []byte("x")}
		if _, _, err := s.SaveSnapshot(t.Context(), "missing", st.Claim(), ok); !errors.Is(err, persistence.ErrNoSuchRoom) {
			t.Errorf("SaveSnapshot of an unknown room = %v, want ErrNoSuchRoom", err)
		}
		wrong := persistence.Claim{Epoch: "0000000000000000", Fence: st.Fence}
		if _, _, err := s.SaveSnapshot(t.Context(), "r", wrong, ok); !errors.Is(err, persistence.ErrEpochMismatch) {
			t.Errorf("SaveSnapshot under another epoch = %v, want ErrEpochMismatch", err)
		}
		MustOpenRoom(t, s, "r") // a newer claim
		if _, _, err := s.SaveSnapshot(t.Context(), "r", st.Claim(), ok); !errors.Is(err, persistence.ErrFenced) {
			t.Errorf("SaveSnapshot under a stale claim = %v, want ErrFenced", err)
		}
		if _, found := MustLoadSnapshot(t, s, "r"); found {
			t.Error("a refused snapshot was stored")
		}
	})

	t.Run("DeleteRoomErasesSnapshot", func(t *testing.T) {
		s := open(t)
		st := Seed(t, s, "r", 3)
		MustSaveSnapshot(t, s, "r", st.Claim(), persistence.Snapshot{Offset: 3, Data: []byte("x")})
		if err := s.DeleteRoom(t.Context(), "r"); err != nil {
			t.Fatalf("DeleteRoom: %v", err)
		}
		if _, ok := MustLoadSnapshot(t, s, "r"); ok {
			t.Fatal("the snapshot survived DeleteRoom")
		}
		again := Seed(t, s, "r", 3)
		if _, ok := MustLoadSnapshot(t, s, "r"); ok {
			t.Fatal("the room's new epoch starts with a snapshot")
		}
		if _, stored := MustSaveSnapshot(t, s, "r", again.Claim(), persistence.Snapshot{Offset: 1, Data: []byte("y")}); !stored {
			t.Fatal("a snapshot of the new epoch at offset 1 was not stored")
		}
	})

	t.Run("ReadByKind", func(t *testing.T) {
		s := open(t)
		st := MustOpenRoom(t, s, "r")
		MustAppend(t, s, "r", st.Claim(), MixedBatch(1, 9, 2, 4, 6, 8))
		for _, c := range []struct {
			q    persistence.ReadQuery
			want []uint64
			more bool
		}{
			{persistence.ReadQuery{After: 1, Limit: 2}, []uint64{2, 4}, true},
			{persistence.ReadQuery{After: 4, Limit: 10}, []uint64{6, 8}, false},
			{persistence.ReadQuery{After: 8, Limit: 10}, []uint64{}, false},
			{persistence.ReadQuery{Limit: 2}, []uint64{6, 8}, true},
			{persistence.ReadQuery{Limit: 10}, []uint64{2, 4, 6, 8}, false},
			{persistence.ReadQuery{Before: 6, Limit: 10}, []uint64{2, 4}, false},
			{persistence.ReadQuery{Before: 8, Limit: 1}, []uint64{6}, true},
		} {
			c.q.Kind = persistence.KindDoc
			res := MustRead(t, s, "r", c.q)
			if got := Offsets(res.Messages); !slices.Equal(got, c.want) || res.More != c.more {
				t.Errorf("Read(%+v) = %v more %v, want %v more %v", c.q, got, res.More, c.want, c.more)
			}
			for _, m := range res.Messages {
				if want := DocMsg(m.Offset); m.Kind != want.Kind || !bytes.Equal(m.Data, want.Data) || m.ID != want.ID {
					t.Errorf("Read(%+v) offset %d = %+v, want %+v", c.q, m.Offset, m, want)
				}
			}
		}
		if got := Offsets(MustRead(t, s, "r", persistence.ReadQuery{After: 0, Limit: 3, Kind: "text"}).Messages); !slices.Equal(got, []uint64{5, 7, 9}) {
			t.Errorf("latest 3 text messages = %v, want [5 7 9]", got)
		}
	})

	t.Run("TrimStopsAtUncoveredDocUpdates", func(t *testing.T) {
		s := open(t)
		st := MustOpenRoom(t, s, "r")
		MustAppend(t, s, "r", st.Claim(), MixedBatch(1, 10, 3, 5, 8))
		all := persistence.TrimRequest{UpTo: math.MaxUint64, Limit: 100}
		if n := MustTrim(t, s, "r", all); n != 2 {
			t.Fatalf("Trim without a snapshot deleted %d, want 2 (up to the first doc update)", n)
		}
		checkRetained(t, s, "r", 3, 10, 10)
		if n := MustTrim(t, s, "r", all); n != 0 {
			t.Fatalf("Trim again deleted %d, want 0", n)
		}
		MustSaveSnapshot(t, s, "r", st.Claim(), persistence.Snapshot{Offset: 5, Data: []byte("s5")})
		if n := MustTrim(t, s, "r", all); n != 5 {
			t.Fatalf("Trim with a snapshot at 5 deleted %d, want 5 (3..7)", n)
		}
		checkRetained(t, s, "r", 8, 10, 10)
		MustSaveSnapshot(t, s, "r", st.Claim(), persistence.Snapshot{Offset: 8, Data: []byte("s8")})
		if n := MustTrim(t, s, "r", persistence.TrimRequest{UpTo: 9, Limit: 100}); n != 2 {
			t.Fatalf("Trim up to 9 with a snapshot at 8 deleted %d, want 2", n)
		}
		checkRetained(t, s, "r", 10, 10, 10)
	})

	t.Run("TrimBoundsCombine", func(t *testing.T) {
		s := open(t)
		st := MustOpenRoom(t, s, "r")
		MustAppend(t, s, "r", st.Claim(), MixedBatch(1, 10, 6))
		// The age bound stops first (before 3), then the doc update at 6.
		if n := MustTrim(t, s, "r", persistence.TrimRequest{UpTo: math.MaxUint64, Before: TSBefore(3), Limit: 100}); n != 2 {
			t.Fatalf("Trim older than 3 deleted %d, want 2", n)
		}
		if n := MustTrim(t, s, "r", persistence.TrimRequest{UpTo: math.MaxUint64, Limit: 2}); n != 2 {
			t.Fatalf("Trim limited to 2 deleted %d, want 2", n)
		}
		if n := MustTrim(t, s, "r", persistence.TrimRequest{UpTo: math.MaxUint64, Limit: 100}); n != 1 {
			t.Fatalf("Trim up to the doc update at 6 deleted %d, want 1", n)
		}
		checkRetained(t, s, "r", 6, 10, 10)
	})
}
