package actors

import (
	"context"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

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
	retired  bool // out of the registry and stopping: commands go to the successor
	deleting bool // a server-API delete is erasing the room: no new writes
	deleted  bool // erased: stopping tells members room_closed "deleted"
	fenced   bool // a newer owner claimed the room: stopping tells members room_closed "moved"
	missing  bool // rooms must be created through the API and this one was not
	relay    bool // another node owns the room: sends are forwarded to it (roomcluster.go)
	// reloading marks a load after a change of owner rather than a crash:
	// members are not told the room restarted.
	reloading bool
	loadSeq   uint64        // numbers this incarnation's loads: only the latest one's result counts
	deferred  []any         // commands received before the state was loaded, then handled in order
	carried   []*pendingMsg // a crashed incarnation's unstored messages, being settled after the reload

	stream roomStream             // offsets, ring, dedup window, unstored messages
	config persistence.RoomConfig // the stored configuration (private, password, member bound)
	retry  time.Duration          // current store retry backoff

	idleToken uint64
	drains    []chan<- struct{} // closed once nothing is pending
	current   any               // the command being handled, answered with unavailable if it panics
}

// Lane results and timers.
type (
	roomLoaded struct {
		gen     uint64
		seq     uint64
		owner   string // in a cluster: the node that owns the room when another one does
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
	if t, ok := msg.(*timerFired); ok {
		r.shell.timers.fired(t.id)
		msg = t.msg
	}
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
	case *forwardDone:
		r.onForwarded(m)
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
	case *roomConfigured:
		r.env.registry.sendActiveRoom(r.shell.name, msg)
	case *deleteRoom:
		// No successor holds the room: erase it on this room's lane, which
		// runs its queued jobs even after the room stops.
		name, store, timeout := r.shell.name, r.env.store, r.env.cfg.StoreTimeout
		r.shell.lane.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			m.Done <- store.DeleteRoom(ctx, name)
		})
	case roomCommand:
		r.env.registry.sendRoom(r.shell.name, msg)
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
		if m.gen == r.gen && r.stream.writing() {
			r.write()
		}
	case *typingIn:
		r.typing(m)
	case *signalIn:
		r.signal(m)
	case *presenceSetIn:
		r.presenceSet(m)
	case *presenceOf:
		r.presence(m)
	case *historyOf:
		r.history(m)
	case *docSyncOf:
		r.docSync(m)
	case *docSnapshotOf:
		r.docSnapshot(m)
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
	default:
		r.dispatchCluster(msg)
	}
}

func (r *roomActor) log() *slog.Logger { return r.env.log.With("room", r.shell.name) }

func (r *roomActor) start(ctx actor.Context) {
	r.self = ctx.Self()
	r.gen = r.env.incarnations.Add(1)
	r.stream = newRoomStream(limitsOf(r.env.cfg))
	if !r.shell.loaded {
		r.env.metrics.RoomsActive.Inc()
	}
	r.joinFeed()
	r.load()
}

func (r *roomActor) nextRetry() time.Duration {
	if r.retry == 0 {
		r.retry = 50 * time.Millisecond
	} else if r.retry < 2*time.Second {
		r.retry *= 2
	}
	return r.retry
}

// after delivers msg to the room once d has passed on the engine's clock.
func (r *roomActor) after(d time.Duration, msg any) {
	if r.shell.timers == nil {
		r.shell.timers = newTimerSet(r.env.clock)
	}
	r.shell.timers.after(r.env.root, r.self, d, msg)
}

func (r *roomActor) idle() bool {
	return len(r.shell.members.users) == 0 && !r.stream.busy()
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
	if r.stream.busy() {
		return
	}
	for _, d := range r.drains {
		close(d)
	}
	r.drains = nil
}

func (r *roomActor) publishStats() {
	owner := ""
	if cl := r.shell.cl; cl != nil {
		owner = cl.owner
	}
	r.entry.stats.Store(&RoomStats{
		Room:        r.shell.name,
		Owner:       owner,
		Relay:       r.relay,
		Members:     r.clusterUsers(),
		Connections: len(r.shell.members.list),
		Private:     r.config.Private,
		NoPresence:  r.presenceOff(),
		Offset:      r.stream.committed,
		Epoch:       r.stream.epoch,
		Restarts:    r.shell.restarts,
	})
}
