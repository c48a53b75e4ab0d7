package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/troupe-chat/troupe/persistence"
)

// This file holds a room's sends: admitting them to the stream, writing
// batches on the store lane, acking and broadcasting what is stored, and
// history pages.

func (r *roomActor) publish(p *publish) {
	if p.Conn != nil && r.shell.members.get(p.Conn) == nil {
		r.failPublish(p, CodeNotJoined, "join "+r.shell.name+" before sending to it")
		return
	}
	if r.missing {
		r.failPublish(p, CodeNoSuchRoom, "room "+r.shell.name+" does not exist")
		return
	}
	if c := r.env.cluster; c != nil && !c.Healthy() {
		// Cut off from the other nodes: acking now could diverge from an
		// owner they elect meanwhile.
		r.failPublish(p, CodeUnavailable, "this node lost the cluster bus; retry")
		return
	}
	if r.relay {
		r.forwardSend(p)
		return
	}
	switch outcome, slot := r.stream.admit(p, r.env.clock.Now().UnixMilli()); outcome {
	case admitFull:
		r.failPublish(p, CodeUnavailable, "the room's store is behind; retry")
	case admitDuplicate:
		r.ack(streamAck{req: p, slot: slot, dup: true})
	case admitted:
		if !r.stream.writing() {
			r.write()
		}
	}
}

// write hands the pending batch to the store lane (group commit): while one
// write is in flight, new messages gather into the next batch.
func (r *roomActor) write() {
	if r.deleting {
		return // the delete on the lane goes first; pending sends are answered when the room stops
	}
	msgs := r.stream.batchToWrite()
	if msgs == nil {
		return
	}
	gen, name, claim, store, cfg := r.gen, r.shell.name, r.stream.claim(), r.env.store, r.env.cfg
	root, self, m := r.env.root, r.self, r.env.metrics
	r.shell.lane.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.StoreTimeout)
		defer cancel()
		start := time.Now()
		err := store.Append(ctx, name, claim, msgs)
		m.StoreLatency.WithLabelValues("append").Observe(time.Since(start).Seconds())
		root.Send(self, &batchStored{gen: gen, err: err})
	})
}

func (r *roomActor) onStored(ctx actor.Context, m *batchStored) {
	if m.err != nil {
		if errors.Is(m.err, persistence.ErrFenced) {
			if r.env.cluster != nil {
				r.yieldToRelay()
				return
			}
			r.env.metrics.FencedWrites.Inc()
			r.yieldToNewOwner(ctx)
			return
		}
		if errors.Is(m.err, persistence.ErrOffsetMismatch) || errors.Is(m.err, persistence.ErrEpochMismatch) {
			// The store's stream is not the one this room holds in memory (an
			// earlier write that timed out may have landed, or the room was
			// erased): restart, which reloads and settles the batch.
			panic(fmt.Errorf("room %s: store rejected batch: %w", r.shell.name, m.err))
		}
		r.log().Error("store append failed; retrying", "err", m.err, "batch", len(r.stream.unstored()))
		r.env.metrics.StoreRetries.Inc()
		r.after(r.nextRetry(), &retryStore{gen: r.gen})
		return
	}
	r.retry = 0
	batch, acks := r.stream.stored()
	if len(batch) == 0 {
		return
	}
	r.env.metrics.BatchSize.Observe(float64(len(batch)))
	r.env.metrics.MessagesStored.Add(float64(len(batch)))
	r.publishStats() // before the acks: whoever got one sees the new offset in the server API
	for _, a := range acks {
		r.ack(a)
	}
	msgs := make([]persistence.Message, len(batch))
	senders := make([]string, len(batch))
	reqs := make([]*publish, len(batch))
	for i, pm := range batch {
		msgs[i], reqs[i] = pm.msg, pm.req
		if pm.req.Conn != nil {
			senders[i] = pm.req.Conn.Id
		}
	}
	r.broadcastMsgs(msgs, senders)
	r.publishStoredBatch(msgs, reqs)
	r.shell.broadcast = r.stream.committed
	now := time.Now().UnixNano()
	for _, pm := range batch {
		if pm.req.Received > 0 {
			r.env.metrics.PublishDeliverLatency.Observe(float64(now-pm.req.Received) / 1e9)
		}
	}
	if r.stream.busy() {
		r.write()
	} else {
		r.finishDrains()
		r.armIdle()
	}
}

// ack answers a stored send: a server-API publish through its reply
// channel, a client with an ack frame.
func (r *roomActor) ack(a streamAck) {
	p, slot, dup := a.req, a.slot, a.dup
	if p.Reply != nil {
		p.Reply <- PublishResult{Room: r.shell.name, MsgID: slot.msgID, Offset: slot.offset, TS: slot.ts}
		return
	}
	if p.Remote != nil {
		p.Remote(RemoteSendResult{MsgID: slot.msgID, Offset: slot.offset, TS: slot.ts, Dup: dup})
		return
	}
	if p.Peer != nil {
		r.env.sendTo(p.Peer, Ack{ID: p.ReqID, Room: r.shell.name, MsgID: slot.msgID, Offset: slot.offset, TS: slot.ts, Dup: dup})
	}
}

func (r *roomActor) failPublish(p *publish, code, text string) {
	failPublish(r.env, r.shell.name, p, code, text)
}

// failPublish answers a publish with an error.
func failPublish(e *env, room string, p *publish, code, text string) {
	if p.Reply != nil {
		p.Reply <- PublishResult{Room: room, Err: &ProtocolError{Code: code, Message: text}}
		return
	}
	if p.Remote != nil {
		p.Remote(RemoteSendResult{Code: code, Message: text})
		return
	}
	if p.Peer != nil {
		e.sendTo(p.Peer, ErrorFrame{ID: p.ReqID, Code: code, Message: text})
	}
}

// broadcastMsgs delivers stored messages to every member, encoded once.
// senders[i] is the actor id of the connection here that sent msgs[i] ("" if
// none): it got an ack instead, so its frame leaves that message out.
func (r *roomActor) broadcastMsgs(msgs []persistence.Message, senders []string) {
	if len(msgs) == 0 || len(r.shell.members.list) == 0 {
		return
	}
	var sending map[string]bool
	for _, conn := range senders {
		if conn != "" {
			if sending == nil {
				sending = make(map[string]bool, 4)
			}
			sending[conn] = true
		}
	}
	shared := r.env.encoder.Encode(r.pushFrame(msgs))
	typ := "message"
	if len(msgs) > 1 {
		typ = "batch"
	}
	delivered := 0
	for _, mem := range r.shell.members.list {
		if sending[mem.conn.Id] {
			others := make([]persistence.Message, 0, len(msgs))
			for i, conn := range senders {
				if conn != mem.conn.Id {
					others = append(others, msgs[i])
				}
			}
			if len(others) > 0 && mem.peer.Enqueue(r.env.encoder.Encode(r.pushFrame(others))) {
				delivered += len(others)
			}
			continue
		}
		if mem.peer.Enqueue(shared) {
			delivered += len(msgs)
		}
	}
	r.env.metrics.Deliveries.Add(float64(delivered))
	r.env.metrics.FramesOut.WithLabelValues(typ).Add(float64(len(r.shell.members.list)))
}

func (r *roomActor) pushFrame(msgs []persistence.Message) Frame {
	if len(msgs) == 1 {
		return MessagePush{Room: r.shell.name, Msg: &msgs[0]}
	}
	return BatchPush{Room: r.shell.name, Msgs: msgs}
}

// pushAll sends one frame, encoded once, to every member but except.
func (r *roomActor) pushAll(f Frame, except *actor.PID) {
	if len(r.shell.members.list) == 0 {
		return
	}
	b := r.env.encoder.Encode(f)
	n := 0
	for _, mem := range r.shell.members.list {
		if except != nil && mem.conn.Id == except.Id {
			continue
		}
		mem.peer.Enqueue(b)
		n++
	}
	r.env.metrics.FramesOut.WithLabelValues(f.FrameType()).Add(float64(n))
}

// contextFor bounds one store call.
func contextFor(cfg Config) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), cfg.StoreTimeout)
}

func (r *roomActor) history(m *historyOf) {
	if m.Conn != nil && r.shell.members.get(m.Conn) == nil {
		r.env.sendTo(m.Peer, ErrorFrame{ID: m.ID, Code: CodeNotJoined, Message: "join " + r.shell.name + " to read its history"})
		return
	}
	limit := m.Limit
	if limit <= 0 {
		limit = r.env.cfg.HistoryDefault
	}
	if res, ok := r.stream.historyFromRing(m.Before, m.After, m.Forward, limit); ok {
		r.env.sendTo(m.Peer, HistoryReply{ID: m.ID, Room: r.shell.name, Msgs: res.Messages, More: res.More})
		return
	}
	gen, name, store, cfg := r.gen, r.shell.name, r.env.store, r.env.cfg
	root, self := r.env.root, r.self
	q := persistence.ReadQuery{Before: m.Before, After: m.After, Limit: limit}
	committed := r.stream.committed
	fromStart := m.Forward && m.After == 0
	r.shell.lane.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.StoreTimeout)
		defer cancel()
		res, err := readHistory(ctx, store, name, q, fromStart, committed)
		root.Send(self, &historyRead{gen: gen, q: m, res: res, err: err})
	})
}

// readHistory reads a history page from the store. A forward page from the
// start (after 0) begins at the oldest message retention has kept: the store
// reads forwards only after an offset, so it reads after the one before the
// oldest, or, while message 1 is kept, the first limit messages as the page
// below limit+1.
func readHistory(ctx context.Context, store persistence.Store, room string, q persistence.ReadQuery, fromStart bool, committed uint64) (persistence.ReadResult, error) {
	if !fromStart {
		return store.Read(ctx, room, q)
	}
	oldest, err := store.OldestOffset(ctx, room)
	if err != nil {
		return persistence.ReadResult{}, err
	}
	if oldest > 1 {
		return store.Read(ctx, room, persistence.ReadQuery{After: oldest - 1, Limit: q.Limit})
	}
	res, err := store.Read(ctx, room, persistence.ReadQuery{Before: uint64(q.Limit) + 1, Limit: q.Limit})
	if err == nil {
		res.More = len(res.Messages) > 0 && res.Messages[len(res.Messages)-1].Offset < committed
	}
	return res, err
}

// onHistoryRead answers a history request read from the store.
func (r *roomActor) onHistoryRead(m *historyRead) {
	if m.err != nil {
		r.env.sendTo(m.q.Peer, ErrorFrame{ID: m.q.ID, Code: CodeUnavailable, Message: "history is unavailable; retry"})
		r.log().Error("history read failed", "err", m.err)
		return
	}
	msgs := m.res.Messages
	if msgs == nil {
		msgs = []persistence.Message{}
	}
	r.env.sendTo(m.q.Peer, HistoryReply{ID: m.q.ID, Room: r.shell.name, Msgs: msgs, More: m.res.More})
}
