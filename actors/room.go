package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/crypto/bcrypt"

	"github.com/troupe-chat/troupe/persistence"
)

// roomActor is the single writer of one room's stream. See doc.go.
type roomActor struct {
	env   *env       // static
	shell *roomShell // survives restarts
	entry *roomEntry // registry slot, for published statistics
	self  *actor.PID
	gen   uint64

	loaded   bool
	missing  bool  // rooms must be created through the API and this one was not
	deferred []any // commands received before the state was loaded

	epoch     string
	committed uint64 // last stored offset
	assigned  uint64 // last assigned offset (>= committed)
	config    persistence.RoomConfig
	ring      []persistence.Message // latest stored messages, at most cfg.RecoveryLimit
	ringFull  bool                  // ring holds the whole stream from offset 1
	lastTS    int64

	dedup      map[dedupKey]*dedupSlot
	dedupOrder []dedupKey // in offset order, for eviction beyond the window

	pending  []*pendingMsg // assigned, waiting for the next store write
	inflight []*pendingMsg // being written
	retry    time.Duration // current store retry backoff

	idleToken uint64
	drains    []chan<- struct{} // closed once nothing is pending
	current   any               // the command being handled, answered with unavailable if it panics
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

// Lane results and timers.
type (
	roomLoaded struct {
		gen     uint64
		state   persistence.RoomState
		missing bool
		recent  []persistence.Message
		cids    []persistence.DedupEntry
		err     error
	}
	batchStored struct {
		gen uint64
		err error
	}
	historyRead struct {
		gen uint64
		q   *historyOf
		res persistence.ReadResult
		err error
	}
	retryStore   struct{ gen uint64 }
	retryLoad    struct{ gen uint64 }
	presenceLeft struct {
		user  string
		token uint64
	}
	idleCheck struct{ token uint64 }
)

func newRoomProps(e *env, shell *roomShell, entry *roomEntry) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &roomActor{env: e, shell: shell, entry: entry}
	}, actor.WithGuardian(e.roomStrategy))
}

// Receive implements actor.Actor.
func (r *roomActor) Receive(ctx actor.Context) {
	msg := ctx.Message()
	switch m := msg.(type) {
	case *actor.Started:
		r.start(ctx)
		return
	case *actor.Restarting:
		r.restarting()
		return
	case *actor.Stopping:
		return
	case *actor.Stopped:
		r.stopped()
		return
	case *roomLoaded:
		r.onLoaded(ctx, m)
		return
	case *retryLoad:
		if m.gen == r.gen {
			r.load()
		}
		return
	}
	if !r.loaded {
		r.deferred = append(r.deferred, msg)
		return
	}
	r.handle(ctx, msg)
}

func (r *roomActor) handle(ctx actor.Context, msg any) {
	r.current = msg
	defer func() { r.current = nil }()
	switch m := msg.(type) {
	case *joinRoom:
		r.join(m)
	case *leaveRoom:
		r.leave(m)
	case *connGone:
		r.gone(m)
	case *publish:
		r.publish(m)
	case *batchStored:
		r.onStored(m)
	case *retryStore:
		if m.gen == r.gen && len(r.inflight) > 0 {
			r.write()
		}
	case *typingIn:
		r.typing(m)
	case *presenceOf:
		r.presence(m)
	case *historyOf:
		r.history(m)
	case *historyRead:
		r.onHistoryRead(m)
	case *presenceLeft:
		r.onPresenceLeft(m)
	case *idleCheck:
		if m.token == r.idleToken && r.idle() {
			ctx.Poison(ctx.Self())
		}
	case *drainNow:
		r.drain(m)
	}
}

func (r *roomActor) log() *slog.Logger { return r.env.log.With("room", r.shell.name) }

func (r *roomActor) start(ctx actor.Context) {
	r.self = ctx.Self()
	r.shell.gen++
	r.gen = r.shell.gen
	r.dedup = make(map[dedupKey]*dedupSlot)
	if r.shell.loaded {
		r.env.metrics.ActorRestarts.WithLabelValues("room").Inc()
	} else {
		r.env.metrics.RoomsActive.Inc()
	}
	r.load()
}

// restarting runs on the crashed incarnation: everyone waiting on it learns
// that their request did not complete.
func (r *roomActor) restarting() {
	r.shell.restarts++
	if p, ok := r.current.(*publish); ok {
		r.failPublish(p, CodeUnavailable, "the room restarted; retry")
	}
	for _, list := range [][]*pendingMsg{r.inflight, r.pending} {
		for _, pm := range list {
			r.failPublish(pm.req, CodeUnavailable, "the room restarted; retry")
		}
	}
	for _, slot := range r.dedup {
		for _, w := range slot.waiters {
			r.failPublish(w, CodeUnavailable, "the room restarted; retry")
		}
	}
	r.log().Warn("room restarting", "restarts", r.shell.restarts)
}

// stopped runs when the room stops for good: idle (no members), deleted, or
// beyond its restart budget; remaining members are told the room closed.
func (r *roomActor) stopped() {
	r.env.metrics.RoomsActive.Dec()
	r.env.registry.roomStopped(r.shell.name, r.self)
	r.shell.close()
	reason := r.shell.closeReason
	if reason == "" {
		reason = "crashed"
	}
	r.pushAll(RoomClosed{Room: r.shell.name, Reason: reason}, nil)
	for _, m := range r.shell.members.list {
		r.env.root.Send(m.conn, &roomLeft{Room: r.shell.name})
	}
}

func (r *roomActor) load() {
	gen, name, store, cfg := r.gen, r.shell.name, r.env.store, r.env.cfg
	root, self := r.env.root, r.self
	r.shell.lane.Do(func() {
		res := &roomLoaded{gen: gen}
		ctx, cancel := context.WithTimeout(context.Background(), cfg.StoreTimeout)
		defer cancel()
		res.err = func() error {
			if cfg.RoomsRequireCreate {
				if _, err := store.LookupRoom(ctx, name); errors.Is(err, persistence.ErrNoSuchRoom) {
					res.missing = true
					return nil
				} else if err != nil {
					return err
				}
			}
			st, err := store.OpenRoom(ctx, name)
			if err != nil {
				return err
			}
			res.state = st
			if st.LastOffset > 0 {
				page, err := store.Read(ctx, name, persistence.ReadQuery{Limit: cfg.RecoveryLimit})
				if err != nil {
					return err
				}
				res.recent = page.Messages
				if res.cids, err = store.RecentCIDs(ctx, name, cfg.DedupWindow); err != nil {
					return err
				}
			}
			return nil
		}()
		root.Send(self, res)
	})
}

func (r *roomActor) onLoaded(ctx actor.Context, m *roomLoaded) {
	if m.gen != r.gen {
		return
	}
	if m.err != nil {
		r.log().Error("room load failed; retrying", "err", m.err)
		r.env.metrics.StoreRetries.Inc()
		r.after(r.nextRetry(), &retryLoad{gen: r.gen})
		return
	}
	r.retry = 0
	r.loaded = true
	r.missing = m.missing
	r.epoch = m.state.Epoch
	r.committed = m.state.LastOffset
	r.assigned = r.committed
	r.config = m.state.Config
	r.ring = m.recent
	r.ringFull = len(m.recent) > 0 && m.recent[0].Offset == 1 || r.committed == 0
	if n := len(m.recent); n > 0 {
		r.lastTS = m.recent[n-1].TS
	}
	for _, c := range m.cids {
		r.remember(dedupKey{c.UserID, c.CID}, &dedupSlot{msgID: c.MsgID, offset: c.Offset, ts: c.TS, stored: true})
	}
	restarted := r.shell.loaded
	if !restarted {
		r.shell.broadcast = r.committed
	}
	r.shell.loaded = true
	if restarted {
		// Messages the previous incarnation stored but did not broadcast.
		var missed []persistence.Message
		for _, msg := range r.ring {
			if msg.Offset > r.shell.broadcast {
				missed = append(missed, msg)
			}
		}
		r.broadcastMsgs(missed, nil)
		r.shell.broadcast = r.committed
		r.pushAll(SystemPush{Room: r.shell.name, Event: "room_restarted", Text: "the room was restarted; no message was lost"}, nil)
		r.log().Info("room restarted", "offset", r.committed, "members", len(r.shell.members.list))
	}
	r.publishStats()
	deferred := r.deferred
	r.deferred = nil
	for _, msg := range deferred {
		r.handle(ctx, msg)
	}
	r.armIdle()
}

func (r *roomActor) nextRetry() time.Duration {
	if r.retry == 0 {
		r.retry = 50 * time.Millisecond
	} else if r.retry < 2*time.Second {
		r.retry *= 2
	}
	return r.retry
}

func (r *roomActor) after(d time.Duration, msg any) {
	root, self := r.env.root, r.self
	time.AfterFunc(d, func() { root.Send(self, msg) })
}

// ---- membership ----

func (r *roomActor) join(m *joinRoom) {
	name := r.shell.name
	fail := func(code, text string) {
		r.env.sendTo(m.Peer, ErrorFrame{ID: m.ReqID, Code: code, Message: text})
		r.env.root.Send(m.Conn, &roomJoinFailed{Room: name})
	}
	if r.missing {
		fail(CodeNoSuchRoom, "room "+name+" does not exist")
		return
	}
	members := &r.shell.members
	existing := members.get(m.Conn)
	if existing == nil {
		if !r.mayEnter(m) {
			fail(r.denyCode(m), "no right to join "+name)
			return
		}
		_, present := members.users[m.User.ID]
		if !present && len(members.users) >= r.maxMembers() {
			fail(CodeRoomFull, "room "+name+" is full")
			return
		}
	}
	joined := Joined{ID: m.ReqID, Room: name, Epoch: r.epoch, Offset: r.committed}
	joined.Recovered, joined.Messages = r.recovery(m.Since, m.History)
	if existing == nil {
		if members.add(&member{conn: m.Conn, peer: m.Peer, user: m.User}) {
			r.pushAll(PresenceDiff{Room: name, Joins: []UserRef{m.User}, Leaves: []UserRef{}}, m.Conn)
		}
		r.publishStats()
	}
	joined.Members = members.refs()
	r.env.sendTo(m.Peer, joined)
	r.env.root.Send(m.Conn, &roomJoined{Room: name, PID: r.self})
}

func (r *roomActor) maxMembers() int {
	if r.config.MaxMembers > 0 {
		return r.config.MaxMembers
	}
	return r.env.cfg.MaxMembers
}

// mayEnter checks a private or password-protected room's rules.
func (r *roomActor) mayEnter(m *joinRoom) bool {
	if !r.config.Private && r.config.PasswordHash == "" {
		return true
	}
	if slices.Contains(m.TokenRooms, r.shell.name) {
		return true
	}
	if r.config.PasswordHash == "" || m.Password == "" {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(r.config.PasswordHash), []byte(m.Password)) == nil
}

func (r *roomActor) denyCode(m *joinRoom) string {
	if r.config.PasswordHash != "" && m.Password != "" {
		return CodeWrongPassword
	}
	return CodeUnauthorized
}

// recovery picks the messages of a joined reply (PROTOCOL.md "Rooms").
func (r *roomActor) recovery(since *Position, history int) (bool, []persistence.Message) {
	if since != nil && since.Epoch == r.epoch && since.Offset <= r.committed &&
		r.committed-since.Offset <= uint64(r.env.cfg.RecoveryLimit) {
		if msgs, ok := r.ringAfter(since.Offset); ok {
			return true, msgs
		}
	}
	if history < 0 {
		history = r.env.cfg.HistoryDefault
	}
	history = min(history, r.env.cfg.HistoryMax)
	return false, r.ringLatest(history)
}

// ringAfter returns the stored messages after offset, if the ring holds all of them.
func (r *roomActor) ringAfter(offset uint64) ([]persistence.Message, bool) {
	if offset == r.committed {
		return []persistence.Message{}, true
	}
	if len(r.ring) == 0 || r.ring[0].Offset > offset+1 {
		return nil, false
	}
	i := int(offset + 1 - r.ring[0].Offset)
	return slices.Clone(r.ring[i:]), true
}

func (r *roomActor) ringLatest(n int) []persistence.Message {
	if n > len(r.ring) {
		n = len(r.ring)
	}
	return slices.Clone(r.ring[len(r.ring)-n:])
}

func (r *roomActor) leave(m *leaveRoom) {
	if mem := r.shell.members.get(m.Conn); mem != nil {
		p := r.shell.members.remove(mem)
		if p.conns == 0 && p.leaving == 0 {
			delete(r.shell.members.users, p.user.ID)
			r.pushAll(PresenceDiff{Room: r.shell.name, Joins: []UserRef{}, Leaves: []UserRef{p.user}}, nil)
		}
		r.publishStats()
		r.armIdle()
	}
	r.env.sendTo(m.Peer, Left{ID: m.ReqID, Room: r.shell.name})
	r.env.root.Send(m.Conn, &roomLeft{Room: r.shell.name})
}

func (r *roomActor) gone(m *connGone) {
	mem := r.shell.members.get(m.Conn)
	if mem == nil {
		return
	}
	p := r.shell.members.remove(mem)
	if p.conns == 0 {
		r.shell.leaveSeq++
		p.leaving = r.shell.leaveSeq
		r.after(r.env.cfg.SessionGrace, &presenceLeft{user: p.user.ID, token: p.leaving})
	}
	r.publishStats()
}

func (r *roomActor) onPresenceLeft(m *presenceLeft) {
	p, ok := r.shell.members.users[m.user]
	if !ok || p.conns > 0 || p.leaving != m.token {
		return
	}
	delete(r.shell.members.users, m.user)
	r.pushAll(PresenceDiff{Room: r.shell.name, Joins: []UserRef{}, Leaves: []UserRef{p.user}}, nil)
	r.publishStats()
	r.armIdle()
}

// ---- publishing ----

func (r *roomActor) publish(p *publish) {
	if p.Conn != nil && r.shell.members.get(p.Conn) == nil {
		r.failPublish(p, CodeNotJoined, "join "+r.shell.name+" before sending to it")
		return
	}
	if r.missing {
		r.failPublish(p, CodeNoSuchRoom, "room "+r.shell.name+" does not exist")
		return
	}
	if len(r.pending)+len(r.inflight) >= r.env.cfg.MaxPendingPerRoom {
		r.failPublish(p, CodeUnavailable, "the room's store is behind; retry")
		return
	}
	var key dedupKey
	if p.CID != "" {
		key = dedupKey{p.From.ID, p.CID}
		if slot, ok := r.dedup[key]; ok {
			if slot.stored {
				r.ack(p, slot, true)
			} else {
				slot.waiters = append(slot.waiters, p)
			}
			return
		}
	}
	now := r.env.clock.Now().UnixMilli()
	if now < r.lastTS {
		now = r.lastTS
	}
	r.lastTS = now
	r.assigned++
	msg := persistence.Message{
		ID:       "m_" + r.epoch + "." + strconv.FormatUint(r.assigned, 10),
		Offset:   r.assigned,
		TS:       now,
		FromID:   p.From.ID,
		FromName: p.From.Name,
		Kind:     p.Kind,
		Text:     p.Text,
		Data:     p.Data,
		ReplyTo:  p.ReplyTo,
		CID:      p.CID,
	}
	if p.CID != "" {
		r.remember(key, &dedupSlot{msgID: msg.ID, offset: msg.Offset, ts: msg.TS})
	}
	r.pending = append(r.pending, &pendingMsg{msg: msg, req: p})
	if len(r.inflight) == 0 {
		r.write()
	}
}

// write hands the pending batch to the store lane (group commit): while one
// write is in flight, new messages gather into the next batch.
func (r *roomActor) write() {
	if len(r.inflight) == 0 {
		r.inflight, r.pending = r.pending, nil
	}
	if len(r.inflight) == 0 {
		return
	}
	msgs := make([]persistence.Message, len(r.inflight))
	for i, pm := range r.inflight {
		msgs[i] = pm.msg
	}
	gen, name, epoch, store, cfg := r.gen, r.shell.name, r.epoch, r.env.store, r.env.cfg
	root, self, m := r.env.root, r.self, r.env.metrics
	r.shell.lane.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.StoreTimeout)
		defer cancel()
		start := time.Now()
		err := store.Append(ctx, name, epoch, msgs)
		m.StoreLatency.WithLabelValues("append").Observe(time.Since(start).Seconds())
		root.Send(self, &batchStored{gen: gen, err: err})
	})
}

func (r *roomActor) onStored(m *batchStored) {
	if m.gen != r.gen {
		return
	}
	if m.err != nil {
		r.log().Error("store append failed; retrying", "err", m.err, "batch", len(r.inflight))
		r.env.metrics.StoreRetries.Inc()
		r.after(r.nextRetry(), &retryStore{gen: r.gen})
		return
	}
	r.retry = 0
	batch := r.inflight
	r.inflight = nil
	r.env.metrics.BatchSize.Observe(float64(len(batch)))
	r.env.metrics.MessagesStored.Add(float64(len(batch)))
	msgs := make([]persistence.Message, len(batch))
	for i, pm := range batch {
		msgs[i] = pm.msg
	}
	r.committed = msgs[len(msgs)-1].Offset
	r.appendRing(msgs)
	for _, pm := range batch {
		if pm.msg.CID == "" {
			r.ack(pm.req, &dedupSlot{msgID: pm.msg.ID, offset: pm.msg.Offset, ts: pm.msg.TS}, false)
			continue
		}
		slot := r.dedup[dedupKey{pm.msg.FromID, pm.msg.CID}]
		if slot == nil { // evicted already: the window is smaller than the batch
			slot = &dedupSlot{msgID: pm.msg.ID, offset: pm.msg.Offset, ts: pm.msg.TS}
		}
		slot.stored = true
		r.ack(pm.req, slot, false)
		for _, w := range slot.waiters {
			r.ack(w, slot, true)
		}
		slot.waiters = nil
	}
	r.broadcastMsgs(msgs, batch)
	r.shell.broadcast = r.committed
	now := time.Now().UnixNano()
	for _, pm := range batch {
		if pm.req.Received > 0 {
			r.env.metrics.PublishDeliverLatency.Observe(float64(now-pm.req.Received) / 1e9)
		}
	}
	r.publishStats()
	if len(r.pending) > 0 {
		r.write()
	} else {
		r.finishDrains()
		r.armIdle()
	}
}

func (r *roomActor) appendRing(msgs []persistence.Message) {
	r.ring = append(r.ring, msgs...)
	if over := len(r.ring) - r.env.cfg.RecoveryLimit; over > 0 {
		r.ring = slices.Delete(r.ring, 0, over)
		r.ringFull = false
	}
}

// remember adds a dedup slot and evicts slots older than the dedup window.
func (r *roomActor) remember(key dedupKey, slot *dedupSlot) {
	r.dedup[key] = slot
	r.dedupOrder = append(r.dedupOrder, key)
	window := uint64(r.env.cfg.DedupWindow)
	n := 0
	for _, k := range r.dedupOrder {
		s := r.dedup[k]
		if s == nil || s.offset+window > slot.offset || !s.stored {
			break
		}
		delete(r.dedup, k)
		n++
	}
	if n > 0 {
		r.dedupOrder = slices.Delete(r.dedupOrder, 0, n)
	}
}

func (r *roomActor) ack(p *publish, slot *dedupSlot, dup bool) {
	if p.Reply != nil {
		p.Reply <- PublishResult{Room: r.shell.name, MsgID: slot.msgID, Offset: slot.offset, TS: slot.ts}
		return
	}
	if p.Peer != nil {
		r.env.sendTo(p.Peer, Ack{ID: p.ReqID, Room: r.shell.name, MsgID: slot.msgID, Offset: slot.offset, TS: slot.ts, Dup: dup})
	}
}

func (r *roomActor) failPublish(p *publish, code, text string) {
	if p.Reply != nil {
		p.Reply <- PublishResult{Room: r.shell.name, Err: &ProtocolError{Code: code, Message: text}}
		return
	}
	if p.Peer != nil {
		r.env.sendTo(p.Peer, ErrorFrame{ID: p.ReqID, Code: code, Message: text})
	}
}

// broadcastMsgs delivers stored messages to every member, encoded once; a
// connection that sent some of them gets a frame without its own messages.
func (r *roomActor) broadcastMsgs(msgs []persistence.Message, batch []*pendingMsg) {
	if len(msgs) == 0 || len(r.shell.members.list) == 0 {
		return
	}
	var senders map[string]bool
	for _, pm := range batch {
		if pm.req.Conn != nil {
			if senders == nil {
				senders = make(map[string]bool, 4)
			}
			senders[pm.req.Conn.Id] = true
		}
	}
	shared := r.env.encoder.Encode(r.pushFrame(msgs))
	typ := "message"
	if len(msgs) > 1 {
		typ = "batch"
	}
	delivered := 0
	for _, mem := range r.shell.members.list {
		if senders[mem.conn.Id] {
			own := make([]persistence.Message, 0, len(msgs))
			for i, pm := range batch {
				if pm.req.Conn == nil || pm.req.Conn.Id != mem.conn.Id {
					own = append(own, msgs[i])
				}
			}
			if len(own) > 0 && mem.peer.Enqueue(r.env.encoder.Encode(r.pushFrame(own))) {
				delivered += len(own)
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

// ---- typing, presence, history ----

func (r *roomActor) typing(m *typingIn) {
	mem := r.shell.members.get(m.Conn)
	if mem == nil {
		r.env.sendTo(m.Peer, ErrorFrame{ID: m.ID, Code: CodeNotJoined, Message: "join " + r.shell.name + " before typing in it"})
		return
	}
	b := r.env.encoder.Encode(TypingPush{Room: r.shell.name, User: mem.user, On: m.On})
	for _, other := range r.shell.members.list {
		if other.user.ID != mem.user.ID {
			other.peer.Enqueue(b)
		}
	}
}

func (r *roomActor) presence(m *presenceOf) {
	if r.shell.members.get(m.Conn) == nil {
		r.env.sendTo(m.Peer, ErrorFrame{ID: m.ID, Code: CodeNotJoined, Message: "join " + r.shell.name + " to see its presence"})
		return
	}
	r.env.sendTo(m.Peer, PresenceReply{ID: m.ID, Room: r.shell.name, Members: r.presenceList()})
}

func (r *roomActor) presenceList() []PresenceMember {
	out := make([]PresenceMember, 0, len(r.shell.members.users))
	for _, p := range r.shell.members.users {
		out = append(out, PresenceMember{ID: p.user.ID, Name: p.user.Name, Conns: p.conns})
	}
	slices.SortFunc(out, func(a, b PresenceMember) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
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
	if res, ok := r.historyFromRing(m.Before, m.After, m.Forward, limit); ok {
		r.env.sendTo(m.Peer, HistoryReply{ID: m.ID, Room: r.shell.name, Msgs: res.Messages, More: res.More})
		return
	}
	gen, name, store, cfg := r.gen, r.shell.name, r.env.store, r.env.cfg
	root, self := r.env.root, r.self
	q := persistence.ReadQuery{Before: m.Before, After: m.After, Limit: limit}
	committed := r.committed
	if m.Forward && m.After == 0 {
		// The store reads forwards only after an offset above 0: the first page
		// is the newest limit messages below limit+1.
		q = persistence.ReadQuery{Before: uint64(limit) + 1, Limit: limit}
	}
	r.shell.lane.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.StoreTimeout)
		defer cancel()
		res, err := store.Read(ctx, name, q)
		if m.Forward && m.After == 0 && err == nil {
			res.More = len(res.Messages) > 0 && res.Messages[len(res.Messages)-1].Offset < committed
		}
		root.Send(self, &historyRead{gen: gen, q: m, res: res, err: err})
	})
}

// historyFromRing answers a history page from memory when the ring covers it.
func (r *roomActor) historyFromRing(before, after uint64, forward bool, limit int) (persistence.ReadResult, bool) {
	var lo uint64 = 1
	if len(r.ring) > 0 {
		lo = r.ring[0].Offset
	} else if r.committed > 0 {
		return persistence.ReadResult{}, false
	}
	if !r.ringFull && lo > 1 {
		lo++ // offsets below the ring's first are not known to exist or not
	}
	switch {
	case forward:
		if after >= r.committed {
			return persistence.ReadResult{Messages: []persistence.Message{}}, true
		}
		if after+1 < lo && !r.ringFull {
			return persistence.ReadResult{}, false
		}
		i := 0
		if len(r.ring) > 0 && after >= r.ring[0].Offset {
			i = int(after + 1 - r.ring[0].Offset)
		}
		end := min(i+limit, len(r.ring))
		return persistence.ReadResult{Messages: slices.Clone(r.ring[i:end]), More: end < len(r.ring)}, true
	default:
		end := len(r.ring)
		if before > 0 && len(r.ring) > 0 {
			if before <= r.ring[0].Offset {
				if r.ringFull {
					return persistence.ReadResult{Messages: []persistence.Message{}}, true
				}
				return persistence.ReadResult{}, false
			}
			end = int(min(before-r.ring[0].Offset, uint64(len(r.ring))))
		}
		start := end - limit
		if start < 0 {
			if !r.ringFull {
				return persistence.ReadResult{}, false
			}
			start = 0
		}
		more := start > 0 || (!r.ringFull && len(r.ring) > 0)
		return persistence.ReadResult{Messages: slices.Clone(r.ring[start:end]), More: more}, true
	}
}

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

// ---- lifecycle ----

func (r *roomActor) idle() bool {
	return len(r.shell.members.users) == 0 && len(r.pending) == 0 && len(r.inflight) == 0
}

func (r *roomActor) armIdle() {
	if !r.idle() {
		return
	}
	r.idleToken++
	r.after(r.env.cfg.RoomIdleTimeout, &idleCheck{token: r.idleToken})
}

// drain answers once every pending message is stored (and acked).
func (r *roomActor) drain(m *drainNow) {
	r.drains = append(r.drains, m.Done)
	r.finishDrains()
}

func (r *roomActor) finishDrains() {
	if len(r.pending) > 0 || len(r.inflight) > 0 {
		return
	}
	for _, d := range r.drains {
		close(d)
	}
	r.drains = nil
}

func (r *roomActor) publishStats() {
	r.entry.stats.Store(&RoomStats{
		Room:        r.shell.name,
		Members:     len(r.shell.members.users),
		Connections: len(r.shell.members.list),
		Private:     r.config.Private,
		Offset:      r.committed,
		Epoch:       r.epoch,
		Restarts:    r.shell.restarts,
	})
}

// ProtocolError is an error with a protocol error code, returned by engine
// calls that the server API makes.
type ProtocolError struct {
	Code    string
	Message string
}

// Error implements error.
func (e *ProtocolError) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }
