package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/troupe-chat/troupe/metrics"
	"github.com/troupe-chat/troupe/persistence"
)

// Config holds the engine's settings; cmd copies them from the server config.
type Config struct {
	Anonymous          bool
	HeartbeatInterval  time.Duration
	IdleTimeout        time.Duration
	SessionGrace       time.Duration
	TokenLeeway        time.Duration
	HelloTimeout       time.Duration
	RateLimit          float64 // frames/s per connection; 0 disables
	RateBurst          int
	MaxFrameBytes      int
	MaxRoomsPerConn    int
	MaxMembers         int
	HistoryDefault     int
	HistoryMax         int
	RecoveryLimit      int
	DedupWindow        int
	HeartbeatShards    int // 0: 4 per CPU
	RoomRestarts       int
	RoomRestartWindow  time.Duration
	RoomsRequireCreate bool
	RoomIdleTimeout    time.Duration // a room without members stops after this
	StoreTimeout       time.Duration // bound of one store call
	MaxPendingPerRoom  int           // unstored messages a room holds before answering unavailable
}

// DefaultConfig returns the protocol's defaults.
func DefaultConfig() Config {
	return Config{
		Anonymous:         true,
		HeartbeatInterval: 25 * time.Second,
		IdleTimeout:       60 * time.Second,
		SessionGrace:      30 * time.Second,
		TokenLeeway:       5 * time.Second,
		HelloTimeout:      10 * time.Second,
		RateLimit:         20,
		RateBurst:         40,
		MaxFrameBytes:     65536,
		MaxRoomsPerConn:   100,
		MaxMembers:        10000,
		HistoryDefault:    50,
		HistoryMax:        200,
		RecoveryLimit:     1000,
		DedupWindow:       10000,
		RoomRestarts:      5,
		RoomRestartWindow: 10 * time.Second,
		RoomIdleTimeout:   30 * time.Second,
		StoreTimeout:      10 * time.Second,
		MaxPendingPerRoom: 10000,
	}
}

// Deps are the engine's collaborators.
type Deps struct {
	Store    persistence.Store
	Encoder  Encoder
	Verifier TokenVerifier // nil: tokens are refused
	Metrics  *metrics.Metrics
	Logger   *slog.Logger
	Clock    Clock // nil: the system clock
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
}

// sendTo encodes one frame for one connection.
func (e *env) sendTo(o Outbox, f Frame) {
	o.Enqueue(e.encoder.Encode(f))
	e.metrics.FramesOut.WithLabelValues(f.FrameType()).Inc()
	if ef, ok := f.(ErrorFrame); ok {
		e.metrics.ErrorsSent.WithLabelValues(ef.Code).Inc()
	}
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Engine is troupe's actor system: it accepts connections from the transport
// and runs their rooms, users and sessions.
type Engine struct {
	env      *env
	system   *actor.ActorSystem
	shards   []*actor.PID
	next     atomic.Uint64
	draining atomic.Bool
}

// New validates cfg and deps and starts the actor system with its sessions
// actor and heartbeat shards. Connections arrive through Connect.
func New(cfg Config, deps Deps) (*Engine, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil || deps.Encoder == nil || deps.Metrics == nil {
		return nil, errors.New("actors: Store, Encoder and Metrics are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Clock == nil {
		deps.Clock = systemClock{}
	}
	log := deps.Logger
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return log.With("component", "protoactor")
	}))
	e := &env{
		cfg: cfg, store: deps.Store, encoder: deps.Encoder, verifier: deps.Verifier,
		metrics: deps.Metrics, log: log, clock: deps.Clock, root: system.Root,
	}
	e.roomStrategy = newRoomStrategy(e)
	e.userStrategy = actor.NewOneForOneStrategy(10, 10*time.Second, actor.DefaultDecider)
	e.registry = newLocalRegistry(system.Root)
	e.registry.newShell = newRoomShell
	e.registry.roomProps = func(shell *roomShell, entry *roomEntry) *actor.Props { return newRoomProps(e, shell, entry) }
	e.registry.userProps = func(id string) *actor.Props { return newUserProps(e, id) }
	var err error
	if e.sessions, err = system.Root.SpawnNamed(newSessionsProps(e), "sessions"); err != nil {
		return nil, fmt.Errorf("actors: spawn sessions: %w", err)
	}
	n := cfg.HeartbeatShards
	if n <= 0 {
		n = 4 * runtime.NumCPU()
	}
	eng := &Engine{env: e, system: system}
	for i := range n {
		pid, err := system.Root.SpawnNamed(newHeartbeatProps(e), fmt.Sprintf("heartbeat/%d", i))
		if err != nil {
			return nil, fmt.Errorf("actors: spawn heartbeat shard: %w", err)
		}
		eng.shards = append(eng.shards, pid)
	}
	system.EventStream.Subscribe(eng.reroute)
	return eng, nil
}

func (c Config) validate() error {
	var errs []error
	if c.HeartbeatInterval <= 0 || c.IdleTimeout <= 0 || c.SessionGrace <= 0 || c.HelloTimeout <= 0 {
		errs = append(errs, errors.New("actors: heartbeat, idle, grace and hello durations must be positive"))
	}
	if c.MaxRoomsPerConn <= 0 || c.MaxMembers <= 0 || c.HistoryMax <= 0 || c.RecoveryLimit <= 0 || c.DedupWindow <= 0 {
		errs = append(errs, errors.New("actors: limits must be positive"))
	}
	if c.RoomIdleTimeout <= 0 || c.StoreTimeout <= 0 || c.MaxPendingPerRoom <= 0 {
		errs = append(errs, errors.New("actors: room idle timeout, store timeout and pending bound must be positive"))
	}
	return errors.Join(errs...)
}

// ConnHandle is the transport's handle on one connection actor.
type ConnHandle struct {
	pid  *actor.PID
	root *actor.RootContext
}

// Post hands a decoded frame (a command of commands.go) to the connection actor.
func (h *ConnHandle) Post(cmd any) { h.root.Send(h.pid, cmd) }

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

// Rooms lists the active rooms.
func (e *Engine) Rooms() []RoomStats { return e.env.registry.Rooms() }

// Draining reports whether Shutdown has begun.
func (e *Engine) Draining() bool { return e.draining.Load() }

// Shutdown closes every connection with 1001, waits until every room has
// stored (and acked) what it holds, then stops the actor system. It is
// idempotent.
func (e *Engine) Shutdown(ctx context.Context) error {
	if !e.draining.CompareAndSwap(false, true) {
		return nil
	}
	for _, shard := range e.shards {
		done := make(chan int, 1)
		e.env.root.Send(shard, &closeAll{Code: CloseGoingAway, Reason: "server shutting down", Done: done})
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("actors: shutdown: close connections: %w", ctx.Err())
		}
	}
	var errs []error
	for _, pid := range e.env.registry.roomPIDs() {
		done := make(chan struct{})
		e.env.root.Send(pid, &drainNow{Done: done})
		select {
		case <-done:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("actors: shutdown: drain %s: %w", pid.Id, ctx.Err()))
		}
		if len(errs) > 0 {
			break
		}
	}
	for _, pid := range e.env.registry.roomPIDs() {
		_ = e.env.root.PoisonFuture(pid).Wait() // Wait only times out; the room is gone either way
	}
	for _, shard := range e.shards {
		_ = e.env.root.PoisonFuture(shard).Wait()
	}
	e.system.Shutdown()
	return errors.Join(errs...)
}

// reroute sends room commands that reached a stopped room to its next
// incarnation, so a command racing a room's idle stop is not lost.
func (e *Engine) reroute(ev any) {
	dl, ok := ev.(*actor.DeadLetterEvent)
	if !ok || dl.PID == nil {
		return
	}
	name, ok := strings.CutPrefix(dl.PID.Id, "room/")
	if !ok {
		return
	}
	switch m := dl.Message.(type) {
	case *drainNow:
		close(m.Done)
		return
	case *joinRoom, *leaveRoom, *publish, *typingIn, *presenceOf, *historyOf:
	default:
		return
	}
	if e.draining.Load() {
		return
	}
	e.env.registry.roomStopped(name, dl.PID)
	e.env.root.Send(e.env.registry.Room(name), dl.Message)
}
