package actors

import (
	"fmt"
	"slices"
	"testing"

	"github.com/troupe-chat/troupe/persistence"
)

// testLimits are small stream limits, so windows and rings overflow in a
// few messages.
var testLimits = streamLimits{recovery: 5, dedupWindow: 3, historyDefault: 2, historyMax: 4, maxPending: 4}

// storedStream returns a stream restored from a store holding offsets
// 1..last of epoch "e1", of which the ring gets the latest ringLen.
func storedStream(last, ringLen int) roomStream {
	s := newRoomStream(testLimits)
	var recent []persistence.Message
	for off := last - ringLen + 1; off <= last; off++ {
		recent = append(recent, persistence.Message{ID: fmt.Sprintf("m_e1.%d", off), Offset: uint64(off), TS: int64(off)})
	}
	s.restore(persistence.RoomState{Epoch: "e1", Fence: 7, LastOffset: uint64(last)}, recent, nil)
	return s
}

func offsets(msgs []persistence.Message) []uint64 {
	out := []uint64{}
	for _, m := range msgs {
		out = append(out, m.Offset)
	}
	return out
}

func send(user, cid string) *publish {
	return &publish{From: UserRef{ID: user, Name: user}, Kind: "text", Text: "hi " + cid, CID: cid}
}

func TestStreamAssignsGapFreeOffsetsAndMonotonicTime(t *testing.T) {
	s := storedStream(10, 5)
	if c := s.claim(); c != (persistence.Claim{Epoch: "e1", Fence: 7}) {
		t.Fatalf("claim = %+v", c)
	}
	for i, now := range []int64{100, 90, 120} { // the clock steps back once
		if got, _ := s.admit(send("u", ""), now); got != admitted {
			t.Fatalf("send %d: %v, want admitted", i, got)
		}
	}
	msgs := s.batchToWrite()
	if got := offsets(msgs); !slices.Equal(got, []uint64{11, 12, 13}) {
		t.Fatalf("batch offsets %v, want 11..13", got)
	}
	if ts := []int64{msgs[0].TS, msgs[1].TS, msgs[2].TS}; !slices.Equal(ts, []int64{100, 100, 120}) {
		t.Errorf("timestamps %v, want 100 100 120 (never backwards)", ts)
	}
	if msgs[0].ID != "m_e1.11" || msgs[0].FromID != "u" || msgs[0].Text != "hi " {
		t.Errorf("message = %+v", msgs[0])
	}
	if s.committed != 10 || !s.writing() {
		t.Fatalf("before the store answers: committed %d, writing %v", s.committed, s.writing())
	}
	// A send during the write waits for the next batch; a retry rewrites the same one.
	s.admit(send("u", ""), 130)
	if got := offsets(s.batchToWrite()); !slices.Equal(got, []uint64{11, 12, 13}) {
		t.Fatalf("retried batch %v, want the in-flight 11..13", got)
	}
	batch, acks := s.stored()
	if len(batch) != 3 || len(acks) != 3 || acks[2].slot.offset != 13 || acks[0].dup {
		t.Fatalf("stored: batch %d acks %+v", len(batch), acks)
	}
	if s.committed != 13 || s.writing() || !s.busy() {
		t.Fatalf("after the store answered: committed %d writing %v busy %v", s.committed, s.writing(), s.busy())
	}
	if got := offsets(s.batchToWrite()); !slices.Equal(got, []uint64{14}) {
		t.Fatalf("next batch %v, want 14", got)
	}
	if got := offsets(s.ring); !slices.Equal(got, []uint64{9, 10, 11, 12, 13}) {
		t.Errorf("ring %v, want the latest 5 stored", got)
	}
}

func TestStreamDedup(t *testing.T) {
	s := storedStream(0, 0)
	first := send("ann", "c1")
	if got, _ := s.admit(first, 1); got != admitted {
		t.Fatalf("first send: %v", got)
	}
	again := send("ann", "c1")
	if got, _ := s.admit(again, 2); got != admitWaiting {
		t.Fatalf("retry while pending: %v, want admitWaiting", got)
	}
	if got, _ := s.admit(send("bob", "c1"), 2); got != admitted {
		t.Fatalf("another user's equal cid: %v, want admitted (ids are per user)", got)
	}
	s.batchToWrite()
	_, acks := s.stored()
	want := []streamAck{{req: first}, {req: again, dup: true}}
	if len(acks) != 3 || acks[0].req != want[0].req || acks[1].req != want[1].req || !acks[1].dup || acks[1].slot.offset != 1 {
		t.Fatalf("acks = %+v, want the send, then its waiting retry as a dup of offset 1, then bob's", acks)
	}
	if got, slot := s.admit(send("ann", "c1"), 3); got != admitDuplicate || slot.offset != 1 || slot.msgID != "m_e1.1" {
		t.Fatalf("retry after storing: %v %+v, want admitDuplicate of offset 1", got, slot)
	}
	// The window is 3 messages: after offsets 3..5 are stored, c1 is forgotten.
	for i := range 3 {
		s.admit(send("carl", fmt.Sprint("k", i)), 4)
	}
	s.batchToWrite()
	s.stored()
	if got, _ := s.admit(send("ann", "c1"), 5); got != admitted {
		t.Fatalf("cid beyond the window: %v, want admitted anew", got)
	}
}

func TestStreamRestoresDedupAndRefusesBeyondPendingBound(t *testing.T) {
	s := newRoomStream(testLimits)
	s.restore(persistence.RoomState{Epoch: "e1", LastOffset: 9},
		[]persistence.Message{{Offset: 9, TS: 50}},
		[]persistence.DedupEntry{{UserID: "ann", CID: "c9", MsgID: "m_e1.9", Offset: 9, TS: 50}})
	if got, slot := s.admit(send("ann", "c9"), 1); got != admitDuplicate || slot.offset != 9 {
		t.Fatalf("cid stored before the restart: %v %+v, want a dup of 9", got, slot)
	}
	for i := range testLimits.maxPending {
		if got, _ := s.admit(send("u", ""), 1); got != admitted {
			t.Fatalf("send %d: %v", i, got)
		}
	}
	if got, _ := s.admit(send("u", ""), 1); got != admitFull {
		t.Fatalf("send beyond the pending bound: %v, want admitFull", got)
	}
	if msgs := s.batchToWrite(); msgs[0].TS != 50 {
		t.Errorf("first timestamp %d, want 50: never before the stored stream's last", msgs[0].TS)
	}
}

func TestStreamRecovery(t *testing.T) {
	s := storedStream(20, 5) // ring 16..20
	for _, tc := range []struct {
		name      string
		since     *Position
		history   int
		recovered bool
		want      []uint64
	}{
		{"up to date", &Position{Epoch: "e1", Offset: 20}, -1, true, []uint64{}},
		{"missed three", &Position{Epoch: "e1", Offset: 17}, -1, true, []uint64{18, 19, 20}},
		{"oldest in ring", &Position{Epoch: "e1", Offset: 15}, -1, true, []uint64{16, 17, 18, 19, 20}},
		{"beyond the ring", &Position{Epoch: "e1", Offset: 14}, -1, false, []uint64{19, 20}},
		{"other epoch", &Position{Epoch: "e0", Offset: 18}, -1, false, []uint64{19, 20}},
		{"from the future", &Position{Epoch: "e1", Offset: 21}, 1, false, []uint64{20}},
		{"no position, default", nil, -1, false, []uint64{19, 20}},
		{"no position, none", nil, 0, false, []uint64{}},
		{"history capped", nil, 100, false, []uint64{17, 18, 19, 20}},
	} {
		rec, msgs := s.recovery(tc.since, tc.history)
		if rec != tc.recovered || !slices.Equal(offsets(msgs), tc.want) {
			t.Errorf("%s: recovered %v %v, want %v %v", tc.name, rec, offsets(msgs), tc.recovered, tc.want)
		}
	}
}

func TestStreamHistoryFromRing(t *testing.T) {
	type page struct {
		before, after uint64
		forward       bool
		limit         int
	}
	full, partial, empty := storedStream(4, 4), storedStream(20, 5), storedStream(0, 0)
	for _, tc := range []struct {
		name string
		s    *roomStream
		q    page
		ok   bool
		want []uint64
		more bool
	}{
		{"latest of a whole ring", &full, page{limit: 2}, true, []uint64{3, 4}, true},
		{"all of a whole ring", &full, page{limit: 10}, true, []uint64{1, 2, 3, 4}, false},
		{"before, whole ring", &full, page{before: 3, limit: 10}, true, []uint64{1, 2}, false},
		{"before the first", &full, page{before: 1, limit: 10}, true, []uint64{}, false},
		{"forward from the start", &full, page{forward: true, limit: 3}, true, []uint64{1, 2, 3}, true},
		{"forward after the end", &full, page{after: 4, forward: true, limit: 3}, true, []uint64{}, false},
		{"latest of a partial ring", &partial, page{limit: 3}, true, []uint64{18, 19, 20}, true},
		{"before inside a partial ring", &partial, page{before: 19, limit: 2}, true, []uint64{17, 18}, true},
		{"reaching below a partial ring", &partial, page{before: 18, limit: 5}, false, nil, false},
		{"forward from below a partial ring", &partial, page{after: 3, forward: true, limit: 5}, false, nil, false},
		{"forward inside a partial ring", &partial, page{after: 17, forward: true, limit: 2}, true, []uint64{18, 19}, true},
		{"empty room", &empty, page{limit: 5}, true, []uint64{}, false},
		{"empty room forward", &empty, page{forward: true, limit: 5}, true, []uint64{}, false},
	} {
		res, ok := tc.s.historyFromRing(tc.q.before, tc.q.after, tc.q.forward, tc.q.limit)
		if ok != tc.ok || (ok && (!slices.Equal(offsets(res.Messages), tc.want) || res.More != tc.more)) {
			t.Errorf("%s: ok %v %v more %v, want ok %v %v more %v", tc.name, ok, offsets(res.Messages), res.More, tc.ok, tc.want, tc.more)
		}
	}
}

// TestStreamSettle settles a crashed incarnation's carried messages 11..14
// against a store that has 11 and 12 (missed by the members) and, at 13, a
// message other than the carried one.
func TestStreamSettle(t *testing.T) {
	s := storedStream(13, 5)
	reqs := make([]*publish, 4)
	var carried []*pendingMsg
	for i := range reqs {
		reqs[i] = send("u", fmt.Sprint("c", i))
		off := uint64(11 + i)
		carried = append(carried, &pendingMsg{req: reqs[i], msg: persistence.Message{ID: fmt.Sprintf("m_e1.%d", off), Offset: off, TS: int64(off), FromID: "u", CID: fmt.Sprint("c", i)}})
	}
	missed := []persistence.Message{carried[0].msg, carried[1].msg, {ID: "m_e1.13", Offset: 13, TS: 99, FromID: "v"}}
	missed = append([]persistence.Message{{ID: "m_e1.10", Offset: 10, TS: 10}}, missed...)

	plan := s.settle(carried, missed)
	if want := []*publish{nil, reqs[0], reqs[1], nil}; !slices.Equal(plan.senders, want) {
		t.Errorf("senders = %v, want nil, 11's, 12's, nil", plan.senders)
	}
	if len(plan.steps) != 4 {
		t.Fatalf("%d steps, want one per carried message", len(plan.steps))
	}
	for i, wantAck := range []bool{true, true, false, false} {
		st := plan.steps[i]
		if st.req != reqs[i] || (st.slot != nil) != wantAck {
			t.Errorf("step %d = %+v, want ack %v for carried %d", i, st, wantAck, 11+i)
		}
	}
	if plan.steps[1].slot.offset != 12 || plan.steps[1].slot.msgID != "m_e1.12" {
		t.Errorf("ack of 12 = %+v", plan.steps[1].slot)
	}
}
