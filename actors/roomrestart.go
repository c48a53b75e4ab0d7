package actors

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/troupe-chat/troupe/persistence"
)

// This file holds a room's life across incarnations: loading its state from
// the store, handing over to the next incarnation when it crashes, settling
// what the crashed one accepted, and stopping for good (its restart budget
// spent, deleted through the server API, or claimed by a newer owner).

// restarting runs on the crashed incarnation. What it accepted is handed to
// the next one through the shell: unstored messages are stored (or acked, if
// the store has them) after the reload, duplicates waiting on them get their
// ack, drain requests stay open, and membership changes are applied again. The
// command that crashed is answered with unavailable, unless it is one that
// must not be lost (a member leaving).
func (r *roomActor) restarting() {
	r.entry.mailbox.Crashed()
	r.flushPresenceBatch() // the next incarnation starts with an empty batch
	sh := r.shell
	sh.restarts++
	carried := slices.Concat(r.carried, r.stream.unstored())
	cur := r.current
	if p, ok := cur.(*publish); ok && slices.ContainsFunc(carried, func(pm *pendingMsg) bool { return pm.req == p }) {
		cur = nil // accepted before the crash: it is carried
	}
	var redo []any
	switch cur.(type) {
	case nil:
	case mustNotLose:
		redo = append(redo, cur)
	default:
		answerUnavailable(r.env, sh.name, cur, "the room restarted; retry")
	}
	sh.carried = append(sh.carried, carried...)
	sh.waiters = append(sh.waiters, r.stream.waiters()...)
	sh.redo = slices.Concat(sh.redo, redo, r.deferred)
	sh.drains = append(sh.drains, r.drains...)
	if c, ok := r.current.(*crashRoom); ok && c.Recovered != nil {
		sh.recovering = append(sh.recovering, c.Recovered)
	}
	r.log().Warn("room restarting", "restarts", sh.restarts, "carried", len(sh.carried))
}

// stopped runs when the actor stops for good. A retired (idle) room has nothing
// to settle. A room stopped by its restart budget or deleted answers everyone
// still waiting and tells its members the room closed.
func (r *roomActor) stopped() {
	sh := r.shell
	r.env.metrics.RoomsActive.Dec()
	r.env.registry.retireRoom(sh.name, r.entry)
	sh.leaveFeed(r.env)
	sh.close()
	if r.retired && !r.deleted && !r.fenced {
		return
	}
	text := "the room stopped; join it again"
	if r.fenced {
		text = "the room moved to another owner; join it again"
	}
	if r.current != nil {
		answerUnavailable(r.env, sh.name, r.current, text)
	}
	for _, pm := range slices.Concat(sh.carried, r.carried, r.stream.unstored()) {
		failPublish(r.env, sh.name, pm.req, CodeUnavailable, text)
	}
	for _, w := range slices.Concat(sh.waiters, r.stream.waiters()) {
		failPublish(r.env, sh.name, w, CodeUnavailable, text)
	}
	for _, msg := range slices.Concat(sh.redo, r.deferred) {
		answerUnavailable(r.env, sh.name, msg, text)
	}
	for _, d := range slices.Concat(sh.drains, r.drains) {
		close(d)
	}
	if c, ok := r.current.(*crashRoom); ok && c.Recovered != nil {
		c.Recovered <- false // the crash that took it past its budget
	}
	for _, c := range sh.recovering {
		c <- false
	}
	sh.recovering = nil
	reason := sh.closeReason
	if reason == "" {
		reason = "crashed"
	}
	// Connections learn they left before their clients hear room_closed, so
	// a command a client sends after room_closed never reaches this name as
	// if the client were still a member (it would create the room again).
	for _, m := range sh.members.list {
		r.env.root.Send(m.conn, &roomLeft{Room: sh.name})
	}
	r.pushAll(RoomClosed{Room: sh.name, Reason: reason}, nil)
}

// answerUnavailable answers a room command that will not be carried out with
// an unavailable error (or, for a leave, with its success: the member is gone
// either way). It reports whether msg was a command that expects an answer.
func answerUnavailable(e *env, room string, msg any, text string) bool {
	switch m := msg.(type) {
	case *publish:
		failPublish(e, room, m, CodeUnavailable, text)
	case *joinRoom:
		e.root.Send(m.Conn, &roomJoinFailed{Room: room})
		e.sendTo(m.Peer, ErrorFrame{ID: m.ReqID, Code: CodeUnavailable, Message: text})
	case *leaveRoom:
		e.sendTo(m.Peer, Left{ID: m.ReqID, Room: room})
		e.root.Send(m.Conn, &roomLeft{Room: room})
	case *historyOf:
		e.sendTo(m.Peer, ErrorFrame{ID: m.ID, Code: CodeUnavailable, Message: text})
	case *presenceOf:
		e.sendTo(m.Peer, ErrorFrame{ID: m.ID, Code: CodeUnavailable, Message: text})
	case *docSyncOf:
		e.sendTo(m.Peer, ErrorFrame{ID: m.ID, Code: CodeUnavailable, Message: text})
	case *docSnapshotOf:
		e.sendTo(m.Peer, ErrorFrame{ID: m.ID, Code: CodeUnavailable, Message: text})
	case *drainNow:
		close(m.Done)
	case *presenceSetIn:
		e.sendTo(m.Peer, ErrorFrame{ID: m.ID, Code: CodeUnavailable, Message: text})
	case *signalIn:
		// Ephemeral: a room too busy to hold it drops it (the next one
		// supersedes it anyway).
		e.metrics.Drops.WithLabelValues("ephemeral").Inc()
	default:
		return false
	}
	return true
}

// rebroadcastPage bounds the store reads and the frames of a post-restart
// rebroadcast.
const rebroadcastPage = 500

func (r *roomActor) load() {
	r.loadSeq++
	gen, seq, name, store, cfg := r.gen, r.loadSeq, r.shell.name, r.env.store, r.env.cfg
	root, self := r.env.root, r.self
	restarted, broadcast := r.shell.loaded, r.shell.broadcast
	node := ""
	if r.env.cluster != nil {
		node = r.env.cluster.Node()
	}
	r.shell.lane.Do(func() {
		res := &roomLoaded{gen: gen, seq: seq}
		ctx, cancel := context.WithTimeout(context.Background(), cfg.StoreTimeout)
		defer cancel()
		res.err = func() error {
			if cfg.RoomsRequireCreate {
				if _, err := store.LookupRoom(ctx, name); errors.Is(err, persistence.ErrNoSuchRoom) {
					res.missing = true
					return nil
				} else if err != nil {
					return fmt.Errorf("look up room: %w", err)
				}
			}
			st, owner, err := openRoom(ctx, store, name, node)
			if err != nil {
				return err
			}
			res.state, res.owner = st, owner
			if st.LastOffset == 0 {
				return nil
			}
			// A relay's owner keeps writing while this load reads: what it
			// stores after the room's state was read comes on the feed, so
			// reads stop at the state's offset (or it would be pushed twice).
			page, err := store.Read(ctx, name, persistence.ReadQuery{Before: st.LastOffset + 1, Limit: cfg.RecoveryLimit})
			if err != nil {
				return fmt.Errorf("read recent messages: %w", err)
			}
			res.recent = page.Messages
			if owner != "" {
				// A relay keeps no client-id window: the owner answers duplicates.
			} else if res.cids, err = store.RecentCIDs(ctx, name, cfg.DedupWindow); err != nil {
				return fmt.Errorf("read recent client ids: %w", err)
			}
			// Messages stored but never broadcast; at most the pending bound.
			for after := broadcast; restarted && after < st.LastOffset; {
				page, err := store.Read(ctx, name, persistence.ReadQuery{After: after, Limit: rebroadcastPage})
				if err != nil {
					return fmt.Errorf("read unbroadcast messages: %w", err)
				}
				if len(page.Messages) == 0 {
					break
				}
				res.missed = append(res.missed, upTo(page.Messages, st.LastOffset)...)
				after = page.Messages[len(page.Messages)-1].Offset
			}
			return nil
		}()
		root.Send(self, res)
	})
}

// upTo returns the messages of msgs (in offset order) at or below offset last.
func upTo(msgs []persistence.Message, last uint64) []persistence.Message {
	n := len(msgs)
	for n > 0 && msgs[n-1].Offset > last {
		n--
	}
	return msgs[:n]
}

// openRoom claims the room: for a single node (node "") unconditionally,
// for a node of a cluster only when no other live node owns it. When one
// does, it returns the room's state unclaimed and that node's name.
func openRoom(ctx context.Context, store persistence.Store, name, node string) (persistence.RoomState, string, error) {
	if node == "" {
		st, err := store.OpenRoom(ctx, name)
		if err != nil {
			return st, "", fmt.Errorf("open room: %w", err)
		}
		return st, "", nil
	}
	st, err := store.ClaimRoom(ctx, name, node)
	var owned *persistence.OwnedError
	if !errors.As(err, &owned) {
		if err != nil {
			return st, "", fmt.Errorf("claim room: %w", err)
		}
		return st, "", nil
	}
	info, err := store.LookupRoom(ctx, name)
	if err != nil {
		return st, "", fmt.Errorf("look up relayed room: %w", err)
	}
	return persistence.RoomState{Room: name, Epoch: info.Epoch, LastOffset: info.LastOffset, Config: info.Config, Owner: info.Owner}, owned.Owner, nil
}

func (r *roomActor) onLoaded(ctx actor.Context, m *roomLoaded) {
	if m.gen != r.gen || m.seq != r.loadSeq || r.loaded {
		return
	}
	if m.err != nil {
		r.log().Error("room load failed; retrying", "err", m.err)
		r.env.metrics.StoreRetries.Inc()
		// Nobody waits longer than one failed load: questions are answered
		// now, membership changes wait for the store.
		kept := r.deferred[:0]
		for _, msg := range r.deferred {
			switch msg.(type) {
			case mustNotLose:
				kept = append(kept, msg)
			default:
				answerUnavailable(r.env, r.shell.name, msg, "the room's store is unavailable; retry")
			}
		}
		r.deferred = kept
		r.after(r.nextRetry(), &retryLoad{gen: r.gen})
		return
	}
	sh := r.shell
	r.retry = 0
	r.loaded = true
	r.missing = m.missing
	r.stream.restore(m.state, m.recent, m.cids)
	r.config = m.state.Config
	r.enterRole(m.owner)
	reloading := r.reloading
	r.reloading = false
	restarted := sh.loaded
	if !restarted {
		sh.broadcast = r.stream.committed
	}
	sh.loaded = true
	r.drains = append(r.drains, sh.drains...)
	r.carried = append(r.carried, sh.carried...)
	waiters := sh.waiters
	r.deferred = slices.Concat(sh.redo, r.deferred)
	sh.drains, sh.carried, sh.waiters, sh.redo = nil, nil, nil, nil
	if restarted {
		r.settleCarried(m.missed)
		for _, w := range waiters {
			r.publish(w)
		}
		if !reloading {
			r.pushAll(SystemPush{Room: sh.name, Event: "room_restarted", Text: "the room was restarted; no message was lost"}, nil)
		}
		for _, c := range sh.recovering {
			c <- true
		}
		sh.recovering = nil
		r.log().Info("room restarted", "offset", r.stream.committed, "members", len(sh.members.list))
	}
	r.publishStats()
	for len(r.deferred) > 0 {
		msg := r.deferred[0]
		r.deferred = r.deferred[1:]
		r.handle(ctx, msg)
	}
	r.finishDrains()
	r.armIdle()
}

// settleCarried finishes a crashed incarnation's business after the reload
// (roomStream.settle decides): messages the store has but members never got
// are broadcast (not to their senders), carried messages the store has are
// acked, and the rest are published again, in their original order.
func (r *roomActor) settleCarried(missed []persistence.Message) {
	plan := r.stream.settle(r.carried, missed)
	for lo := 0; lo < len(missed); lo += rebroadcastPage {
		hi := min(lo+rebroadcastPage, len(missed))
		senders := make([]string, hi-lo)
		for i, p := range plan.senders[lo:hi] {
			if p != nil && p.Conn != nil {
				senders[i] = p.Conn.Id
			} else if cl := r.shell.cl; cl != nil {
				senders[i] = cl.acked[missed[lo+i].Offset] // a forwarded send acked before the owner changed
			}
		}
		r.broadcastMsgs(missed[lo:hi], senders)
		if !r.relay {
			r.publishStoredBatch(missed[lo:hi], plan.senders[lo:hi])
		}
	}
	r.shell.broadcast = r.stream.committed
	for _, step := range plan.steps {
		r.carried = r.carried[1:] // consumed as it goes: a crash hands on only the rest
		if step.slot != nil {
			r.ack(step)
			continue
		}
		r.publish(step.req)
	}
}

// startDelete erases the room's stream and configuration on its store lane,
// after any write in flight; nothing new is written meanwhile.
func (r *roomActor) startDelete(m *deleteRoom) {
	if r.deleting {
		m.Done <- &ProtocolError{Code: CodeUnavailable, Message: "the room is already being deleted"}
		return
	}
	r.deleting = true
	gen, name, store, cfg := r.gen, r.shell.name, r.env.store, r.env.cfg
	root, self := r.env.root, r.self
	r.shell.lane.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.StoreTimeout)
		defer cancel()
		root.Send(self, &roomDeleted{gen: gen, err: store.DeleteRoom(ctx, name), done: m.Done})
	})
}

// finishDelete stops the erased room: members get room_closed "deleted",
// unstored sends get unavailable (a retry reaches the room created again,
// in a new epoch), and commands already queued go to that successor.
func (r *roomActor) finishDelete(ctx actor.Context, m *roomDeleted) {
	if m.err != nil {
		r.deleting = false
		m.done <- fmt.Errorf("actors: delete room %s: %w", r.shell.name, m.err)
		r.write()
		return
	}
	r.log().Info("room deleted through the server API", "offset", r.stream.committed, "members", len(r.shell.members.users))
	r.shell.closeReason = "deleted"
	r.deleted = true
	r.retired = true
	r.env.registry.retireRoom(r.shell.name, r.entry)
	m.done <- nil
	ctx.Poison(ctx.Self())
}

// yieldToNewOwner stops a room whose store claim a newer owner has taken
// (ErrFenced): nothing of the batch was stored, so nothing is acked; unstored
// sends get unavailable (their retry, under the same cid, reaches the new
// owner), members get room_closed "moved", and a new join starts a room that
// claims the room again.
func (r *roomActor) yieldToNewOwner(ctx actor.Context) {
	r.log().Warn("room claimed by a newer owner; stopping without acking", "offset", r.stream.committed, "unstored", len(r.stream.unstored()))
	r.shell.closeReason = "moved"
	r.fenced = true
	r.retired = true
	r.env.registry.retireRoom(r.shell.name, r.entry)
	ctx.Poison(ctx.Self())
}
