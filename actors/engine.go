package actors

import (
	"sync"

	"github.com/jonboulle/clockwork"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/troupe-chat/troupe/metrics"
	"github.com/troupe-chat/troupe/persistence"
)

// Deps are the engine's collaborators.
type Deps struct {
	Store    persistence.Store
	Encoder  Encoder
	Verifier TokenVerifier // nil: tokens are refused
	Metrics  *metrics.Metrics
	Logger   *slog.Logger
	Clock    Clock // nil: the system clock
	// Cluster links this node to the other nodes of a cluster; nil for a
	// single node. With it, rooms are claimed in the store (ClaimRoom) and
	// relayed from their owner when another node holds them.
	Cluster Cluster
}

// env is what every actor of one engine shares. Static after construction.
type env struct {
	cfg          Config
	store        persistence.Store
	encoder      Encoder
	verifier     TokenVerifier
	metrics      *metrics.Metrics
	log          *slog.Logger
	clock        Clock
	root         *actor.RootContext
	registry     *localRegistry
	sessions     *actor.PID
	roomStrategy actor.SupervisorStrategy
	userStrategy actor.SupervisorStrategy
	// sessionsStrategy supervises the sessions actor.
	sessionsStrategy actor.SupervisorStrategy
	// incarnations numbers room actor incarnations engine-wide, so a store
	// result always finds the incarnation that asked for it.
	incarnations atomic.Uint64
	// quiescing is set when shutdown begins: connections stop accepting
	// sends so rooms can finish what they hold.
	quiescing atomic.Bool
	// workers are the goroutines actors start besides their own (password
	// checks, waits for retired rooms' store lanes); Shutdown waits for them.
	workers sync.WaitGroup
	// cluster is the port to the other nodes; nil for a single node.
	cluster Cluster
	// presenceSeq numbers this node's presence snapshots (see
	// EventPresence): it starts at the engine's start time in nanoseconds,
	// so a restarted node's snapshots supersede its previous run's.
	presenceSeq atomic.Uint64
}

// sendTo encodes one frame for one connection.
func (e *env) sendTo(o Outbox, f Frame) {
	if r, ok := o.(frameReply); ok {
		select {
		case r <- f: // a server-API query: the first answer is the one
		default:
		}
		return
	}
	o.Enqueue(e.encoder.Encode(f))
	e.metrics.FramesOut.WithLabelValues(f.FrameType()).Inc()
	if ef, ok := f.(ErrorFrame); ok {
		e.metrics.ErrorsSent.WithLabelValues(ef.Code).Inc()
	}
}

// Engine is troupe's actor system: it accepts connections from the transport
// and runs their rooms, users and sessions.
type Engine struct {
	env      *env
	system   *actor.ActorSystem
	shards   []*actor.PID
	next     atomic.Uint64
	draining atomic.Bool
	stop     chan struct{} // closed by Shutdown: ends the mailbox sampler
	sampled  chan struct{} // closed when the sampler has ended
	// unserve stops answering other nodes (forwarded sends, user
	// deliveries); nil for a single node.
	unserve []func()
}

// New validates cfg and deps and starts the actor system with its sessions
// actor and heartbeat shards. Connections arrive through Connect.
func New(cfg Config, deps Deps) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("actors: invalid config: %w", err)
	}
	if deps.Store == nil || deps.Encoder == nil || deps.Metrics == nil {
		return nil, errors.New("actors: Store, Encoder and Metrics are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Clock == nil {
		deps.Clock = clockwork.NewRealClock()
	}
	log := deps.Logger
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return log.With("component", "protoactor")
	}))
	e := &env{
		cfg: cfg, store: deps.Store, encoder: deps.Encoder, verifier: deps.Verifier,
		metrics: deps.Metrics, log: log, clock: deps.Clock, root: system.Root,
		cluster: deps.Cluster,
	}
	e.presenceSeq.Store(uint64(time.Now().UnixNano()))
	e.roomStrategy = &budgetStrategy{
		env: e, kind: "room", max: cfg.RoomRestarts, window: cfg.RoomRestartWindow,
		backoff: cfg.RoomRestartBackoff, backoffMax: cfg.RoomRestartBackoffMax,
		onStop: deps.Metrics.RoomsStoppedByBudget.Inc,
	}
	e.userStrategy = &budgetStrategy{
		env: e, kind: "user", max: 10, window: 10 * time.Second,
		backoff: cfg.RoomRestartBackoff, backoffMax: cfg.RoomRestartBackoffMax,
	}
	e.sessionsStrategy = &budgetStrategy{
		env: e, kind: "sessions", max: 10, window: 10 * time.Second,
		backoff: cfg.RoomRestartBackoff, backoffMax: cfg.RoomRestartBackoffMax,
	}
	e.registry = newLocalRegistry(system.Root, &e.workers)
	e.registry.newShell = newRoomShell
	e.registry.roomProps = func(shell *roomShell, entry *roomEntry) *actor.Props { return newRoomProps(e, shell, entry) }
	e.registry.userProps = func(id string, entry *userEntry) *actor.Props { return newUserProps(e, id, entry) }
	var err error
	if e.sessions, err = system.Root.SpawnNamed(newSessionsProps(e), "sessions"); err != nil {
		return nil, fmt.Errorf("actors: spawn sessions: %w", err)
	}
	n := cfg.HeartbeatShardCount()
	eng := &Engine{env: e, system: system, stop: make(chan struct{}), sampled: make(chan struct{})}
	for i := range n {
		pid, err := system.Root.SpawnNamed(newHeartbeatProps(e, i, n), fmt.Sprintf("heartbeat/%d", i))
		if err != nil {
			return nil, fmt.Errorf("actors: spawn heartbeat shard: %w", err)
		}
		eng.shards = append(eng.shards, pid)
	}
	system.EventStream.Subscribe(eng.reroute)
	if deps.Cluster != nil {
		if err := eng.serveCluster(); err != nil {
			system.Shutdown()
			return nil, err
		}
	}
	go eng.sampleMailboxes(2 * time.Second)
	return eng, nil
}

// ConnHandle is the transport's handle on one connection actor.
type ConnHandle struct {
	pid  *actor.PID
	root *actor.RootContext
}

// Post hands a decoded frame to the connection actor.
func (h *ConnHandle) Post(cmd Command) { h.root.Send(h.pid, cmd) }

// Closed tells the connection actor that its socket ended.
func (h *ConnHandle) Closed(code int) { h.root.Send(h.pid, SocketClosed{Code: code}) }

// ErrDraining is returned by Connect once Shutdown has begun.
var ErrDraining = errors.New("actors: engine is draining")

// Connect spawns the actor of a new connection under a heartbeat shard.
func (e *Engine) Connect(peer Peer, info ConnInfo) (*ConnHandle, error) {
	if e.draining.Load() {
		return nil, ErrDraining
	}
	shard := e.shards[e.next.Add(1)%uint64(len(e.shards))]
	reply := make(chan *actor.PID, 1)
	e.env.root.Send(shard, &spawnConn{Peer: peer, Info: info, Reply: reply})
	select {
	case pid := <-reply:
		if pid == nil {
			return nil, ErrDraining
		}
		return &ConnHandle{pid: pid, root: e.env.root}, nil
	case <-time.After(5 * time.Second):
		return nil, errors.New("actors: heartbeat shard did not answer")
	}
}

// CrashRoom makes the active room's actor panic once, as a recovery drill
// does; its supervisor restarts it. It reports whether the room was active.
func (e *Engine) CrashRoom(name string) bool {
	return e.env.registry.sendActiveRoom(name, &crashRoom{})
}

// CrashRoomObserved is CrashRoom with a report: the channel receives true
// once the restarted room has reloaded from the store and serves again, or
// false if the crash took it past its restart budget and it stopped. ok is
// false, and the channel nil, when the room was not active.
func (e *Engine) CrashRoomObserved(name string) (recovered <-chan bool, ok bool) {
	c := make(chan bool, 1)
	if !e.env.registry.sendActiveRoom(name, &crashRoom{Recovered: c}) {
		return nil, false
	}
	return c, true
}

// KillConns makes up to n welcomed connection actors panic, as a conn-kill
// drill does: each one's socket is closed with 1011 and its siblings are
// untouched. It returns how many it crashed.
func (e *Engine) KillConns(n int) int { return e.KillUserConns("", n) }

// KillUserConns is KillConns limited to the connections of one user (any
// user when user is "").
func (e *Engine) KillUserConns(user string, n int) int {
	killed := 0
	for _, shard := range e.shards {
		if killed >= n {
			break
		}
		left := n - killed
		killed += e.askShard(shard, func(done chan<- int) any { return &killConns{Max: left, User: user, Done: done} })
	}
	return killed
}

// Connections counts the welcomed connections that are not closing.
func (e *Engine) Connections() int {
	total := 0
	for _, n := range e.ShardConnections() {
		total += n
	}
	return total
}

// CrashUser makes the user's actor panic once, as a user-crash drill does;
// its supervisor restarts it with its connections. It reports whether the
// user had a live actor.
func (e *Engine) CrashUser(id string) bool {
	return e.env.registry.sendLiveUser(id, &crashUser{})
}

// CrashUserObserved is CrashUser with a report: the channel receives true
// once the restarted user actor runs. ok is false when the user had no live
// actor.
func (e *Engine) CrashUserObserved(id string) (recovered <-chan bool, ok bool) {
	c := make(chan bool, 1)
	if !e.env.registry.sendLiveUser(id, &crashUser{Recovered: c}) {
		return nil, false
	}
	return c, true
}

// Users lists the ids of users with a live user actor.
func (e *Engine) Users() []string { return e.env.registry.userIDs() }

// Flush waits until every active room has stored and acked what it holds
// (store-stall drills measure recovery with it).
func (e *Engine) Flush(ctx context.Context) error { return e.drainRooms(ctx) }

// Rooms lists the active rooms.
func (e *Engine) Rooms() []RoomStats { return e.env.registry.Rooms() }

// Draining reports whether Shutdown has begun.
func (e *Engine) Draining() bool { return e.draining.Load() }

// Shutdown drains the engine within ctx: connections stop accepting sends
// (answered unavailable), every room stores and acks what it holds, then the
// connections close with 1001 in paced batches (DrainBatch per shard every
// DrainInterval, faster when ctx's deadline nears), the rooms flush what
// arrived meanwhile, and the actor system stops. It is idempotent.
func (e *Engine) Shutdown(ctx context.Context) error {
	if !e.draining.CompareAndSwap(false, true) {
		return nil
	}
	e.env.quiescing.Store(true)
	close(e.stop)
	<-e.sampled
	var errs []error
	if err := e.drainRooms(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := e.closeConns(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := e.drainRooms(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := e.flushSessions(ctx); err != nil {
		errs = append(errs, err)
	}
	for _, stop := range e.unserve {
		stop()
	}
	for _, pid := range e.env.registry.roomPIDs() {
		_ = e.env.root.PoisonFuture(pid).Wait() // Wait only times out; the room is gone either way
	}
	for _, shard := range e.shards {
		_ = e.env.root.PoisonFuture(shard).Wait()
	}
	_ = e.env.root.PoisonFuture(e.env.sessions).Wait() // its lane is among the workers waited for below
	e.system.Shutdown()
	e.env.workers.Wait()
	return errors.Join(errs...)
}

// sampleMailboxes sets troupe_mailbox_depth{kind="room"} to the deepest
// room mailbox every interval, until Shutdown.
func (e *Engine) sampleMailboxes(interval time.Duration) {
	defer close(e.sampled)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			deepest := 0
			for _, s := range e.env.registry.Rooms() {
				deepest = max(deepest, s.Mailbox)
			}
			e.env.metrics.MailboxDepth.WithLabelValues("room").Set(float64(deepest))
		}
	}
}

// ShardConnections counts the welcomed connections of each heartbeat shard.
func (e *Engine) ShardConnections() []int {
	out := make([]int, len(e.shards))
	for i, shard := range e.shards {
		out[i] = e.askShard(shard, func(done chan<- int) any { return &countConns{Done: done} })
	}
	return out
}

// askShard sends a shard a question answered with a count; a shard that does
// not answer within 5s (it stopped at shutdown) counts 0.
func (e *Engine) askShard(shard *actor.PID, question func(done chan<- int) any) int {
	done := make(chan int, 1)
	e.env.root.Send(shard, question(done))
	select {
	case n := <-done:
		return n
	case <-time.After(5 * time.Second):
		return 0
	}
}

// drainRooms waits until every room has stored and acked what it holds.
func (e *Engine) drainRooms(ctx context.Context) error {
	pids := e.env.registry.roomPIDs()
	dones := make([]chan struct{}, len(pids))
	for i, pid := range pids {
		dones[i] = make(chan struct{})
		e.env.root.Send(pid, &drainNow{Done: dones[i]})
	}
	for i, done := range dones {
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("actors: drain %s: %w", pids[i].Id, ctx.Err())
		}
	}
	return nil
}

// closeConns closes every connection with 1001, a batch per shard at a time.
func (e *Engine) closeConns(ctx context.Context) error {
	batch, interval := e.env.cfg.DrainBatch, e.env.cfg.DrainInterval
	for {
		left := 0
		for _, shard := range e.shards {
			done := make(chan int, 1)
			e.env.root.Send(shard, &closeConns{Code: CloseGoingAway, Reason: "server shutting down", Max: batch, Done: done})
			select {
			case n := <-done:
				left += n
			case <-ctx.Done():
				return fmt.Errorf("actors: shutdown: close connections: %w", ctx.Err())
			}
		}
		if left == 0 {
			return nil
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < 2*interval {
			batch = 0 // out of time for pacing: close the rest at once
			continue
		}
		select {
		case <-time.After(interval):
		case <-ctx.Done():
			return fmt.Errorf("actors: shutdown: close connections: %w", ctx.Err())
		}
	}
}

// reroute sends commands that reached a stopped room or user actor to its
// successor, so a command racing an actor's stop is not lost.
func (e *Engine) reroute(ev any) {
	dl, ok := ev.(*actor.DeadLetterEvent)
	if !ok || dl.PID == nil {
		return
	}
	kind, name, ok := actorName(dl.PID)
	if !ok {
		return
	}
	if m, ok := dl.Message.(*drainNow); ok {
		close(m.Done)
		return
	}
	if e.draining.Load() && kind == "room" {
		answerUnavailable(e.env, name, dl.Message, "the server is shutting down")
		return
	}
	switch kind {
	case "room":
		if _, ok := dl.Message.(roomCommand); ok {
			e.env.registry.sendRoom(name, dl.Message)
		}
	case "user":
		u := &userActor{env: e.env, id: name}
		u.forward(dl.Message)
	}
}

// flushSessions waits until the sessions actor's store calls are done, so
// the records of the sessions shutdown dropped are saved (with their expiry)
// for the next server to resume.
func (e *Engine) flushSessions(ctx context.Context) error {
	done := make(chan struct{})
	e.env.root.Send(e.env.sessions, &flushSessions{Done: done})
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("actors: shutdown: save sessions: %w", ctx.Err())
	}
}
