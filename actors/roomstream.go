package actors

import (
	"slices"
	"strconv"

	"github.com/troupe-chat/troupe/persistence"
)

// roomStream is one room's message stream as its room actor holds it: the
// epoch and store claim, the offsets assigned and stored, the ring of latest
// stored messages, the dedup window of client ids, and the messages waiting
// for the store. It makes every stream decision (offsets, duplicates,
// recovery, history from memory, settling a crashed incarnation's messages)
// and performs none: no actor, clock, store or socket is reachable from
// here, so roomstream_test.go drives it with plain values.
type roomStream struct {
	limits streamLimits

	epoch     string
	fence     uint64                // the store claim's fence token; appends carry it
	committed uint64                // last stored offset
	assigned  uint64                // last assigned offset (>= committed)
	ring      []persistence.Message // latest stored messages, at most limits.recovery
	ringFull  bool                  // ring holds the whole stream from offset 1
	lastTS    int64                 // timestamps never go backwards

	dedup      map[dedupKey]*dedupSlot
	dedupOrder []dedupKey // in offset order from dedupHead on, for eviction beyond the window
	dedupHead  int        // dedupOrder[:dedupHead] are evicted

	pending  []*pendingMsg // assigned, waiting for the next store write
	inflight []*pendingMsg // being written
}

// streamLimits are the engine settings a stream works within.
type streamLimits struct {
	recovery       int // messages the ring keeps; since-recovery reaches this far back
	dedupWindow    int // messages a client id stays known for
	historyDefault int // messages of a join or history page that names no count
	historyMax     int // most messages a join returns
	maxPending     int // unstored messages held before sends are refused
}

// limitsOf picks a stream's limits out of the engine configuration.
func limitsOf(c Config) streamLimits {
	return streamLimits{
		recovery:       c.RecoveryLimit,
		dedupWindow:    c.DedupWindow,
		historyDefault: c.HistoryDefault,
		historyMax:     c.HistoryMax,
		maxPending:     c.MaxPendingPerRoom,
	}
}

type dedupKey struct{ user, cid string }

// dedupSlot is a client id already used in the room: stored (ack known) or
// still pending (waiters get the ack once it is stored).
type dedupSlot struct {
	msgID   string
	offset  uint64
	ts      int64
	stored  bool
	waiters []*publish
}

// pendingMsg is a message with its offset assigned, waiting to be stored.
type pendingMsg struct {
	msg persistence.Message
	req *publish
}

// streamAck is an ack a room owes: req's message is stored as slot says; dup
// marks a send whose client id was used before.
type streamAck struct {
	req  *publish
	slot *dedupSlot
	dup  bool
}

func newRoomStream(l streamLimits) roomStream {
	return roomStream{limits: l, dedup: make(map[dedupKey]*dedupSlot)}
}

// restore loads the stream from its stored state: the claim, the latest
// messages (at most limits.recovery, ascending) and the dedup entries of the
// latest window.
func (s *roomStream) restore(st persistence.RoomState, recent []persistence.Message, cids []persistence.DedupEntry) {
	s.epoch = st.Epoch
	s.fence = st.Fence
	s.committed = st.LastOffset
	s.assigned = s.committed
	s.ring = recent
	s.ringFull = len(recent) > 0 && recent[0].Offset == 1 || s.committed == 0
	if n := len(recent); n > 0 {
		s.lastTS = recent[n-1].TS
	}
	for _, c := range cids {
		s.remember(dedupKey{c.UserID, c.CID}, &dedupSlot{msgID: c.MsgID, offset: c.Offset, ts: c.TS, stored: true})
	}
}

// claim is what the stream's appends are written under.
func (s *roomStream) claim() persistence.Claim {
	return persistence.Claim{Epoch: s.epoch, Fence: s.fence}
}

// busy reports whether messages wait for the store.
func (s *roomStream) busy() bool { return len(s.pending) > 0 || len(s.inflight) > 0 }

// unstored returns the messages accepted and not yet known to be stored, in
// offset order.
func (s *roomStream) unstored() []*pendingMsg { return slices.Concat(s.inflight, s.pending) }

// waiters returns the duplicate sends waiting for a pending message's ack.
func (s *roomStream) waiters() []*publish {
	var out []*publish
	for _, slot := range s.dedup {
		out = append(out, slot.waiters...)
	}
	return out
}

// admission is what admit did with a send.
type admission int

const (
	// admitted: the send got the next offset and waits for the store.
	admitted admission = iota
	// admitDuplicate: its client id is stored already; ack it with the slot, dup.
	admitDuplicate
	// admitWaiting: its client id is pending; it gets the ack when that is stored.
	admitWaiting
	// admitFull: too many messages wait for the store; refuse it.
	admitFull
)

// admit assigns p the next offset at time now (Unix milliseconds, held
// monotonic), unless its client id was used within the window or the stream
// holds its bound of unstored messages.
func (s *roomStream) admit(p *publish, now int64) (admission, *dedupSlot) {
	if len(s.pending)+len(s.inflight) >= s.limits.maxPending {
		return admitFull, nil
	}
	var key dedupKey
	if p.CID != "" {
		key = dedupKey{p.From.ID, p.CID}
		if slot, ok := s.dedup[key]; ok {
			if slot.stored {
				return admitDuplicate, slot
			}
			slot.waiters = append(slot.waiters, p)
			return admitWaiting, slot
		}
	}
	now = max(now, s.lastTS)
	s.lastTS = now
	s.assigned++
	msg := persistence.Message{
		ID:       "m_" + s.epoch + "." + strconv.FormatUint(s.assigned, 10),
		Offset:   s.assigned,
		TS:       now,
		FromID:   p.From.ID,
		FromName: p.From.Name,
		Kind:     p.Kind,
		Text:     p.Text,
		Data:     p.Data,
		ReplyTo:  p.ReplyTo,
		CID:      p.CID,
	}
	var slot *dedupSlot
	if p.CID != "" {
		slot = &dedupSlot{msgID: msg.ID, offset: msg.Offset, ts: msg.TS}
		s.remember(key, slot)
	}
	s.pending = append(s.pending, &pendingMsg{msg: msg, req: p})
	return admitted, slot
}

// batchToWrite returns the messages of the store write to make: the
// in-flight batch (again, after a failed write), or when nothing is in
// flight, the pending messages, which become the in-flight batch. It returns
// nil when nothing waits. Callers start a write only when none is running.
func (s *roomStream) batchToWrite() []persistence.Message {
	if len(s.inflight) == 0 {
		s.inflight, s.pending = s.pending, nil
	}
	if len(s.inflight) == 0 {
		return nil
	}
	msgs := make([]persistence.Message, len(s.inflight))
	for i, pm := range s.inflight {
		msgs[i] = pm.msg
	}
	return msgs
}

// writing reports whether a store write is in flight.
func (s *roomStream) writing() bool { return len(s.inflight) > 0 }

// stored records that the in-flight batch is in the store: the committed
// offset advances, the ring takes the batch and its client ids count as
// stored. It returns the batch and the acks now owed, each sender's followed
// by the duplicates that waited on it.
func (s *roomStream) stored() ([]*pendingMsg, []streamAck) {
	batch := s.inflight
	s.inflight = nil
	if len(batch) == 0 {
		return nil, nil
	}
	msgs := make([]persistence.Message, len(batch))
	for i, pm := range batch {
		msgs[i] = pm.msg
	}
	s.committed = msgs[len(msgs)-1].Offset
	s.appendRing(msgs)
	acks := make([]streamAck, 0, len(batch))
	for _, pm := range batch {
		if pm.msg.CID == "" {
			acks = append(acks, streamAck{req: pm.req, slot: &dedupSlot{msgID: pm.msg.ID, offset: pm.msg.Offset, ts: pm.msg.TS}})
			continue
		}
		slot := s.dedup[dedupKey{pm.msg.FromID, pm.msg.CID}]
		if slot == nil { // evicted already: the window is smaller than the batch
			slot = &dedupSlot{msgID: pm.msg.ID, offset: pm.msg.Offset, ts: pm.msg.TS}
		}
		slot.stored = true
		acks = append(acks, streamAck{req: pm.req, slot: slot})
		for _, w := range slot.waiters {
			acks = append(acks, streamAck{req: w, slot: slot, dup: true})
		}
		slot.waiters = nil
	}
	return batch, acks
}

// observe continues a relay's stream with messages its owner stored
// (ascending, continuing committed).
func (s *roomStream) observe(msgs []persistence.Message) {
	if len(msgs) == 0 {
		return
	}
	s.committed = msgs[len(msgs)-1].Offset
	s.assigned = s.committed
	s.lastTS = msgs[len(msgs)-1].TS
	s.appendRing(msgs)
}

func (s *roomStream) appendRing(msgs []persistence.Message) {
	s.ring = append(s.ring, msgs...)
	if over := len(s.ring) - s.limits.recovery; over > 0 {
		s.ring = slices.Delete(s.ring, 0, over)
		s.ringFull = false
	}
}

// remember adds a dedup slot and evicts stored slots older than the dedup
// window.
func (s *roomStream) remember(key dedupKey, slot *dedupSlot) {
	s.dedup[key] = slot
	s.dedupOrder = append(s.dedupOrder, key)
	window := uint64(s.limits.dedupWindow)
	for _, k := range s.dedupOrder[s.dedupHead:] {
		old := s.dedup[k]
		if old == nil || old.offset+window > slot.offset || !old.stored {
			break
		}
		delete(s.dedup, k)
		s.dedupOrder[s.dedupHead] = dedupKey{}
		s.dedupHead++
	}
	// Compact once half is evicted: amortised O(1) per message, where
	// deleting from the front each time moved the whole window.
	if s.dedupHead > 0 && s.dedupHead >= len(s.dedupOrder)/2 {
		n := copy(s.dedupOrder, s.dedupOrder[s.dedupHead:])
		clear(s.dedupOrder[n:])
		s.dedupOrder = s.dedupOrder[:n]
		s.dedupHead = 0
	}
}

// recovery picks the messages of a joined reply (PROTOCOL.md "Rooms"):
// everything after since when the ring still holds it (recovered), otherwise
// the latest history messages (-1: the default count).
func (s *roomStream) recovery(since *Position, history int) (bool, []persistence.Message) {
	if since != nil && since.Epoch == s.epoch && since.Offset <= s.committed &&
		s.committed-since.Offset <= uint64(s.limits.recovery) {
		if msgs, ok := s.ringAfter(since.Offset); ok {
			return true, msgs
		}
	}
	if history < 0 {
		history = s.limits.historyDefault
	}
	history = min(history, s.limits.historyMax)
	return false, s.ringLatest(history)
}

// ringAfter returns the stored messages after offset, if the ring holds all of them.
func (s *roomStream) ringAfter(offset uint64) ([]persistence.Message, bool) {
	if offset == s.committed {
		return []persistence.Message{}, true
	}
	if len(s.ring) == 0 || s.ring[0].Offset > offset+1 {
		return nil, false
	}
	i := int(offset + 1 - s.ring[0].Offset)
	return slices.Clone(s.ring[i:]), true
}

func (s *roomStream) ringLatest(n int) []persistence.Message {
	n = min(n, len(s.ring))
	return slices.Clone(s.ring[len(s.ring)-n:])
}

// historyFromRing answers a history page from memory when the ring covers
// it; ok is false when the store must be read.
func (s *roomStream) historyFromRing(before, after uint64, forward bool, limit int) (res persistence.ReadResult, ok bool) {
	var lo uint64 = 1
	if len(s.ring) > 0 {
		lo = s.ring[0].Offset
	} else if s.committed > 0 {
		return persistence.ReadResult{}, false
	}
	if !s.ringFull && lo > 1 {
		lo++ // offsets below the ring's first are not known to exist or not
	}
	switch {
	case forward:
		if after >= s.committed {
			return persistence.ReadResult{Messages: []persistence.Message{}}, true
		}
		if after+1 < lo && !s.ringFull {
			return persistence.ReadResult{}, false
		}
		i := 0
		if len(s.ring) > 0 && after >= s.ring[0].Offset {
			i = int(after + 1 - s.ring[0].Offset)
		}
		end := min(i+limit, len(s.ring))
		return persistence.ReadResult{Messages: slices.Clone(s.ring[i:end]), More: end < len(s.ring)}, true
	default:
		end := len(s.ring)
		if before > 0 && len(s.ring) > 0 {
			if before <= s.ring[0].Offset {
				if s.ringFull {
					return persistence.ReadResult{Messages: []persistence.Message{}}, true
				}
				return persistence.ReadResult{}, false
			}
			end = int(min(before-s.ring[0].Offset, uint64(len(s.ring))))
		}
		start := end - limit
		if start < 0 {
			if !s.ringFull {
				return persistence.ReadResult{}, false
			}
			start = 0
		}
		more := start > 0 || (!s.ringFull && len(s.ring) > 0)
		return persistence.ReadResult{Messages: slices.Clone(s.ring[start:end]), More: more}, true
	}
}

// settlement is how a reloaded stream finishes a crashed incarnation's
// business; see settle.
type settlement struct {
	// senders[i] is the carried send whose message missed[i] is, or nil:
	// members get missed[i] broadcast, its sender an ack instead.
	senders []*publish
	// steps are the carried sends in their original order: slot set, the
	// store has the message (ack it); slot nil, it has not (publish again).
	steps []streamAck
}

// settle decides, after a reload, what becomes of the messages a crashed
// incarnation accepted (carried, in offset order) given missed, the messages
// stored after the last broadcast: a carried message the store has is acked,
// the rest are published again, in their original order.
func (s *roomStream) settle(carried []*pendingMsg, missed []persistence.Message) settlement {
	storedAt := make(map[uint64]*pendingMsg)
	for _, pm := range carried {
		if pm.msg.Offset <= s.committed {
			storedAt[pm.msg.Offset] = pm
		}
	}
	out := settlement{senders: make([]*publish, len(missed)), steps: make([]streamAck, 0, len(carried))}
	missedAt := make(map[uint64]persistence.Message, len(missed))
	for i, msg := range missed {
		missedAt[msg.Offset] = msg
		if pm := storedAt[msg.Offset]; pm != nil && sameMessage(pm.msg, msg) {
			out.senders[i] = pm.req
		}
	}
	for _, pm := range carried {
		if msg, ok := missedAt[pm.msg.Offset]; ok && storedAt[pm.msg.Offset] == pm && sameMessage(pm.msg, msg) {
			out.steps = append(out.steps, streamAck{req: pm.req, slot: &dedupSlot{msgID: msg.ID, offset: msg.Offset, ts: msg.TS}})
			continue
		}
		out.steps = append(out.steps, streamAck{req: pm.req})
	}
	return out
}

// sameMessage reports whether a stored message is the one a room assigned.
func sameMessage(a, b persistence.Message) bool {
	return a.ID == b.ID && a.TS == b.TS && a.FromID == b.FromID && a.CID == b.CID && a.Text == b.Text
}
