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
	gen   uint64 // this incarnation's number, unique in the engine

	presenceDiffs presenceBatch // presence changes not pushed yet

	loaded   bool
	retired  bool          // out of the registry and stopping: commands go to the successor
	deleting bool          // a server-API delete is erasing the room: no new writes
	deleted  bool          // erased: stopping tells members room_closed "deleted"
	fenced   bool          // a newer owner claimed the room: stopping tells members room_closed "moved"
	missing  bool          // rooms must be created through the API and this one was not
	deferred []any         // commands received before the state was loaded, then handled in order
	carried  []*pendingMsg // a crashed incarnation's unstored messages, being settled after the reload

	epoch     string
	fence     uint64 // the store claim's fence token; appends carry it
	committed uint64 // last stored offset
	assigned  uint64 // last assigned offset (>= committed)
	config    persistence.RoomConfig
	ring      []persistence.Message // latest stored messages, at most cfg.RecoveryLimit
	ringFull  bool                  // ring holds the whole stream from offset 1
	lastTS    int64

	dedup      map[dedupKey]*dedupSlot
	dedupOrder []dedupKey // in offset order from dedupHead on, for eviction beyond the window
	dedupHead  int        // dedupOrder[:dedupHead] are evicted

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
		missed  []persistence.Message // stored after the last broadcast (restarts only)
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
	idleCheck struct{ gen, token uint64 }
)

func newRoomProps(e *env, shell *roomShell, entry *roomEntry) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &roomActor{env: e, shell: shell, entry: entry}
	}, actor.WithGuardian(e.roomStrategy), actor.WithMailbox(actor.Unbounded(&entry.mailbox)))
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
	case *historyRead:
		// A read is answered whichever incarnation asked for it.
		r.onHistoryRead(m)
		return
	case *batchStored:
		if m.gen != r.gen {
			return // written for a crashed incarnation; the reload settled it
		}
	}
	switch {
	case r.retired:
		r.forward(msg)
	case !r.loaded:
		r.hold(msg)
	default:
		r.handle(ctx, msg)
	}
}

// forward hands a command that reached this retired actor to its successor.
func (r *roomActor) forward(msg any) {
	switch m := msg.(type) {
	case *drainNow:
		close(m.Done) // a retired room holds nothing
	case *joinRoom, *leaveRoom, *connGone, *publish, *typingIn, *presenceOf, *historyOf:
		r.env.registry.sendRoom(r.shell.name, msg)
	case *roomConfigured:
		r.env.registry.sendActiveRoom(r.shell.name, msg)
	case *deleteRoom:
		m.Done <- r.env.store.DeleteRoom(context.Background(), r.shell.name)
	}
}

// hold keeps a command until the room's state is loaded, within the room's
// pending bound.
func (r *roomActor) hold(msg any) {
	if len(r.deferred) >= r.env.cfg.MaxPendingPerRoom {
		if answerUnavailable(r.env, r.shell.name, msg, "the room is loading; retry") {
			return
		}
	}
	r.deferred = append(r.deferred, msg)
}

// handle runs one command on the loaded room. current names it while it runs,
// so a panic can answer or redo it.
func (r *roomActor) handle(ctx actor.Context, msg any) {
	r.current = msg
	r.dispatch(ctx, msg)
	r.current = nil
}

func (r *roomActor) dispatch(ctx actor.Context, msg any) {
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
		r.onStored(ctx, m)
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
	case *roomConfigured:
		r.config = m.Config
		r.publishStats()
	case *flushPresence:
		if m.gen == r.gen {
			r.flushPresenceBatch()
		}
	case *deleteRoom:
		r.startDelete(m)
	case *roomDeleted:
		r.finishDelete(ctx, m)
	case *presenceLeft:
		r.onPresenceLeft(m)
	case *idleCheck:
		if m.gen == r.gen && m.token == r.idleToken && r.idle() &&
			r.env.registry.retireRoom(r.shell.name, r.entry) {
			// Out of the registry first: whatever reaches this actor from now on
			// is forwarded to the successor, and the poison pill comes last.
			r.retired = true
			ctx.Poison(ctx.Self())
		}
	case *drainNow:
		r.drain(m)
	case *crashRoom:
		panic(errCrashDrill)
	}
}

func (r *roomActor) log() *slog.Logger { return r.env.log.With("room", r.shell.name) }

func (r *roomActor) start(ctx actor.Context) {
	r.self = ctx.Self()
	r.gen = r.env.incarnations.Add(1)
	r.dedup = make(map[dedupKey]*dedupSlot)
	if !r.shell.loaded {
		r.env.metrics.RoomsActive.Inc()
	}
	r.load()
}

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
	carried := slices.Concat(r.carried, r.inflight, r.pending)
	cur := r.current
	if p, ok := cur.(*publish); ok && slices.ContainsFunc(carried, func(pm *pendingMsg) bool { return pm.req == p }) {
		cur = nil // accepted before the crash: it is carried
	}
	var redo []any
	switch cur.(type) {
	case nil:
	case *connGone, *leaveRoom, *presenceLeft, *drainNow:
		redo = append(redo, cur)
	default:
		answerUnavailable(r.env, sh.name, cur, "the room restarted; retry")
	}
	sh.carried = append(sh.carried, carried...)
	for _, slot := range r.dedup {
		sh.waiters = append(sh.waiters, slot.waiters...)
	}
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
	for _, list := range [][]*pendingMsg{sh.carried, r.carried, r.inflight, r.pending} {
		for _, pm := range list {
			failPublish(r.env, sh.name, pm.req, CodeUnavailable, text)
		}
	}
	for _, w := range sh.waiters {
		failPublish(r.env, sh.name, w, CodeUnavailable, text)
	}
	for _, slot := range r.dedup {
		for _, w := range slot.waiters {
			failPublish(r.env, sh.name, w, CodeUnavailable, text)
		}
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
	r.pushAll(RoomClosed{Room: sh.name, Reason: reason}, nil)
	for _, m := range sh.members.list {
		r.env.root.Send(m.conn, &roomLeft{Room: sh.name})
	}
}

// answerUnavailable answers a room command that will not be carried out with
// an unavailable error (or, for a leave, with its success: the member is gone
// either way). It reports whether msg was a command that expects an answer.
func answerUnavailable(e *env, room string, msg any, text string) bool {
	switch m := msg.(type) {
	case *publish:
		failPublish(e, room, m, CodeUnavailable, text)
	case *joinRoom:
		e.sendTo(m.Peer, ErrorFrame{ID: m.ReqID, Code: CodeUnavailable, Message: text})
		e.root.Send(m.Conn, &roomJoinFailed{Room: room})
	case *leaveRoom:
		e.sendTo(m.Peer, Left{ID: m.ReqID, Room: room})
		e.root.Send(m.Conn, &roomLeft{Room: room})
	case *historyOf:
		e.sendTo(m.Peer, ErrorFrame{ID: m.ID, Code: CodeUnavailable, Message: text})
	case *presenceOf:
		e.sendTo(m.Peer, ErrorFrame{ID: m.ID, Code: CodeUnavailable, Message: text})
	case *drainNow:
		close(m.Done)
	default:
		return false
	}
	return true
}

// rebroadcastPage bounds the store reads and the frames of a post-restart
// rebroadcast.
const rebroadcastPage = 500

func (r *roomActor) load() {
	gen, name, store, cfg := r.gen, r.shell.name, r.env.store, r.env.cfg
	root, self := r.env.root, r.self
	restarted, broadcast := r.shell.loaded, r.shell.broadcast
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
					return fmt.Errorf("look up room: %w", err)
				}
			}
			st, err := store.OpenRoom(ctx, name)
			if err != nil {
				return fmt.Errorf("open room: %w", err)
			}
			res.state = st
			if st.LastOffset == 0 {
				return nil
			}
			page, err := store.Read(ctx, name, persistence.ReadQuery{Limit: cfg.RecoveryLimit})
			if err != nil {
				return fmt.Errorf("read recent messages: %w", err)
			}
			res.recent = page.Messages
			if res.cids, err = store.RecentCIDs(ctx, name, cfg.DedupWindow); err != nil {
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
				res.missed = append(res.missed, page.Messages...)
				after = page.Messages[len(page.Messages)-1].Offset
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
		// Nobody waits longer than one failed load: questions are answered
		// now, membership changes wait for the store.
		kept := r.deferred[:0]
		for _, msg := range r.deferred {
			switch msg.(type) {
			case *connGone, *leaveRoom, *presenceLeft, *drainNow:
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
	r.epoch = m.state.Epoch
	r.fence = m.state.Fence
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
	restarted := sh.loaded
	if !restarted {
		sh.broadcast = r.committed
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
		r.pushAll(SystemPush{Room: sh.name, Event: "room_restarted", Text: "the room was restarted; no message was lost"}, nil)
		for _, c := range sh.recovering {
			c <- true
		}
		sh.recovering = nil
		r.log().Info("room restarted", "offset", r.committed, "members", len(sh.members.list))
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

// settleCarried finishes a crashed incarnation's business after the reload:
// messages the store has but members never got are broadcast (not to their
// senders), carried messages the store has are acked, and the rest are
// published again, in their original order.
func (r *roomActor) settleCarried(missed []persistence.Message) {
	stored := make(map[uint64]*pendingMsg)
	for _, pm := range r.carried {
		if pm.msg.Offset <= r.committed {
			stored[pm.msg.Offset] = pm
		}
	}
	for chunk := range slices.Chunk(missed, rebroadcastPage) {
		senders := make([]*actor.PID, len(chunk))
		for i, msg := range chunk {
			if pm := stored[msg.Offset]; pm != nil && sameMessage(pm.msg, msg) {
				senders[i] = pm.req.Conn
			}
		}
		r.broadcastMsgs(chunk, senders)
	}
	r.shell.broadcast = r.committed
	missedAt := make(map[uint64]persistence.Message, len(missed))
	for _, msg := range missed {
		missedAt[msg.Offset] = msg
	}
	for len(r.carried) > 0 {
		pm := r.carried[0]
		r.carried = r.carried[1:]
		if msg, ok := missedAt[pm.msg.Offset]; ok && stored[pm.msg.Offset] == pm && sameMessage(pm.msg, msg) {
			r.ack(pm.req, &dedupSlot{msgID: msg.ID, offset: msg.Offset, ts: msg.TS}, false)
			continue
		}
		r.publish(pm.req)
	}
}

// sameMessage reports whether a stored message is the one a room assigned.
func sameMessage(a, b persistence.Message) bool {
	return a.ID == b.ID && a.TS == b.TS && a.FromID == b.FromID && a.CID == b.CID && a.Text == b.Text
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
		if r.passwordPending(m) {
			return // checked off the room's goroutine; the join comes back
		}
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
			r.presenceJoined(m.User, m.Conn)
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
	return m.passwordOK && m.checkedAgainst == r.config.PasswordHash
}

// passwordPending starts checking a join's password against the room's hash
// on another goroutine, so the room keeps serving meanwhile: bcrypt takes
// tens of milliseconds on purpose. The join is sent back to the room with
// the verdict. It reports whether the join waits for that check.
func (r *roomActor) passwordPending(m *joinRoom) bool {
	hash := r.config.PasswordHash
	if hash == "" || m.Password == "" || m.checkedAgainst == hash || slices.Contains(m.TokenRooms, r.shell.name) {
		return false
	}
	name, registry := r.shell.name, r.env.registry
	go func() {
		checked := *m
		checked.checkedAgainst = hash
		checked.passwordOK = bcrypt.CompareHashAndPassword([]byte(hash), []byte(m.Password)) == nil
		registry.sendRoom(name, &checked)
	}()
	return true
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
			r.presenceGone(p.user)
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
	r.presenceGone(p.user)
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
	if r.deleting {
		return // the delete on the lane goes first; pending sends are answered when the room stops
	}
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
	gen, name, claim, store, cfg := r.gen, r.shell.name, persistence.Claim{Epoch: r.epoch, Fence: r.fence}, r.env.store, r.env.cfg
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
			r.yieldToNewOwner(ctx)
			return
		}
		if errors.Is(m.err, persistence.ErrOffsetMismatch) || errors.Is(m.err, persistence.ErrEpochMismatch) {
			// The store's stream is not the one this room holds in memory (an
			// earlier write that timed out may have landed, or the room was
			// erased): restart, which reloads and settles the batch.
			panic(fmt.Errorf("room %s: store rejected batch: %w", r.shell.name, m.err))
		}
		r.log().Error("store append failed; retrying", "err", m.err, "batch", len(r.inflight))
		r.env.metrics.StoreRetries.Inc()
		r.after(r.nextRetry(), &retryStore{gen: r.gen})
		return
	}
	r.retry = 0
	batch := r.inflight
	r.inflight = nil
	if len(batch) == 0 {
		return
	}
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
	senders := make([]*actor.PID, len(batch))
	for i, pm := range batch {
		senders[i] = pm.req.Conn
	}
	r.broadcastMsgs(msgs, senders)
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
	for _, k := range r.dedupOrder[r.dedupHead:] {
		s := r.dedup[k]
		if s == nil || s.offset+window > slot.offset || !s.stored {
			break
		}
		delete(r.dedup, k)
		r.dedupOrder[r.dedupHead] = dedupKey{}
		r.dedupHead++
	}
	// Compact once half is evicted: amortised O(1) per message, where
	// deleting from the front each time moved the whole window.
	if r.dedupHead > 0 && r.dedupHead >= len(r.dedupOrder)/2 {
		n := copy(r.dedupOrder, r.dedupOrder[r.dedupHead:])
		clear(r.dedupOrder[n:])
		r.dedupOrder = r.dedupOrder[:n]
		r.dedupHead = 0
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
	failPublish(r.env, r.shell.name, p, code, text)
}

// failPublish answers a publish with an error.
func failPublish(e *env, room string, p *publish, code, text string) {
	if p.Reply != nil {
		p.Reply <- PublishResult{Room: room, Err: &ProtocolError{Code: code, Message: text}}
		return
	}
	if p.Peer != nil {
		e.sendTo(p.Peer, ErrorFrame{ID: p.ReqID, Code: code, Message: text})
	}
}

// broadcastMsgs delivers stored messages to every member, encoded once.
// senders[i] is the connection that sent msgs[i] (nil if none): it got an ack
// instead, so its frame leaves that message out.
func (r *roomActor) broadcastMsgs(msgs []persistence.Message, senders []*actor.PID) {
	if len(msgs) == 0 || len(r.shell.members.list) == 0 {
		return
	}
	var sending map[string]bool
	for _, conn := range senders {
		if conn != nil {
			if sending == nil {
				sending = make(map[string]bool, 4)
			}
			sending[conn.Id] = true
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
				if conn == nil || conn.Id != mem.conn.Id {
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

// ---- typing, presence, history ----

func (r *roomActor) typing(m *typingIn) {
	mem := r.shell.members.get(m.Conn)
	if mem == nil {
		r.env.sendTo(m.Peer, ErrorFrame{ID: m.ID, Code: CodeNotJoined, Message: "join " + r.shell.name + " before typing in it"})
		return
	}
	b := r.env.encoder.Encode(TypingPush{Room: r.shell.name, User: mem.user, On: m.On})
	n := 0
	for _, other := range r.shell.members.list {
		if other.user.ID != mem.user.ID && other.peer.Offer(b) {
			n++
		}
	}
	r.env.metrics.FramesOut.WithLabelValues("typing").Add(float64(n))
}

func (r *roomActor) presence(m *presenceOf) {
	if m.Conn != nil && r.shell.members.get(m.Conn) == nil {
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

// ---- server-API deletion ----

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
	r.log().Info("room deleted through the server API", "offset", r.committed, "members", len(r.shell.members.users))
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
	r.log().Warn("room claimed by a newer owner; stopping without acking", "offset", r.committed, "unstored", len(r.inflight)+len(r.pending))
	r.shell.closeReason = "moved"
	r.fenced = true
	r.retired = true
	r.env.registry.retireRoom(r.shell.name, r.entry)
	ctx.Poison(ctx.Self())
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
	r.after(r.env.cfg.RoomIdleTimeout, &idleCheck{gen: r.gen, token: r.idleToken})
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
