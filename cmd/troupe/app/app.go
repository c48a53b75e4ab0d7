// Package app wires troupe's parts into a running server: config → logger,
// store, metrics, engine, transport. It is the only place that knows them all.
package app

import (
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"strings"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/actors/drills"
	jsclient "github.com/troupe-chat/troupe/clients/js"
	"github.com/troupe-chat/troupe/configs"
	"github.com/troupe-chat/troupe/metrics"
	"github.com/troupe-chat/troupe/metrics/registry"
	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/faults"
	"github.com/troupe-chat/troupe/persistence/retention"
	"github.com/troupe-chat/troupe/persistence/stores"
	"github.com/troupe-chat/troupe/transport"
	"github.com/troupe-chat/troupe/transport/api"
	"github.com/troupe-chat/troupe/transport/auth"
	"github.com/troupe-chat/troupe/transport/wire"
	"github.com/troupe-chat/troupe/web"
	"github.com/troupe-chat/troupe/web/admin"
)

// App is one running troupe server.
type App struct {
	Addr         net.Addr // the bound address
	engine       *actors.Engine
	server       *transport.Server
	store        *faults.Store // the configured store, with drill faults off until injected
	drills       *drills.Runner
	tokens       *auth.JWTVerifier // nil when tokens are refused
	stopProfiler func()            // no-op unless --pprof-addr
	stopTrimming func()            // stops the retention runner; no-op with --history-retention off
	cluster      *clusterNode      // nil for a single node
	log          *slog.Logger
	served       chan error

	shutdownOnce sync.Once
	shutdownErr  error
}

// NewLogger builds the server's logger from the config.
func NewLogger(cfg configs.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel))); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Option changes how Start builds the server; the defaults suit production.
type Option func(*options)

type options struct {
	clock actors.Clock
}

// WithClock drives connection deadlines (hello, heartbeat, idle, token
// expiry, session grace) from c instead of real time; tests pass a fake clock.
func WithClock(c actors.Clock) Option {
	return func(o *options) { o.clock = c }
}

// Start opens the store, starts the engine and begins serving on cfg.Addr.
func Start(ctx context.Context, cfg configs.Config, log *slog.Logger, opts ...Option) (*App, error) {
	o := options{clock: clockwork.NewRealClock()}
	for _, opt := range opts {
		opt(&o)
	}
	// A PostgreSQL that is down does not stop the server: it listens, answers
	// /readyz with 503 and rooms with unavailable until the store is up.
	store, err := stores.Dial(ctx, cfg.Store, stores.DefaultBackoff(), log.With("component", "store"))
	if err != nil {
		return nil, fmt.Errorf("app: open store: %w", err)
	}
	a, err := start(ctx, cfg, log, store, o)
	if err != nil {
		return nil, errors.Join(err, store.Close())
	}
	return a, nil
}

func start(ctx context.Context, cfg configs.Config, log *slog.Logger, opened persistence.Store, o options) (_ *App, err error) {
	store := faults.Wrap(opened)
	reg := registry.New()
	m := metrics.New(reg)
	var verifier actors.TokenVerifier
	var jwtVerifier *auth.JWTVerifier
	if cfg.JWTSecret != "" || cfg.JWTPublicKeys != "" {
		v, err := auth.New(auth.Options{
			HMACSecret: []byte(cfg.JWTSecret), PublicKeyFile: cfg.JWTPublicKeys,
			Audience: cfg.JWTAudience, Issuer: cfg.JWTIssuer, Leeway: cfg.TokenLeeway, Now: o.clock.Now,
		})
		if err != nil {
			return nil, fmt.Errorf("app: token verifier: %w", err)
		}
		verifier, jwtVerifier = v, v
	}
	var node *clusterNode
	var port actors.Cluster
	if cfg.ClusterEnabled() {
		if node, err = startCluster(ctx, cfg, store, m, log); err != nil {
			return nil, err
		}
		port = node.adapter
		defer func() {
			if err != nil {
				_ = node.close(context.Background(), true)
			}
		}()
	}
	engine, err := actors.New(cfg.Engine, actors.Deps{
		Store: store, Encoder: wire.Encoder{}, Verifier: verifier, Metrics: m, Logger: log.With("component", "engine"), Clock: o.clock,
		Cluster: port,
	})
	if err != nil {
		return nil, fmt.Errorf("app: engine: %w", err)
	}
	if node != nil {
		node.engine.Store(engine)
		engine.SetLiveNodes(node.keeper.Live())
	}
	srv, err := transport.New(cfg.Transport, transport.Deps{Engine: engine, Store: store, Verifier: verifier, Metrics: m, Gatherer: reg, Logger: log, Clock: o.clock})
	if err != nil {
		return nil, fmt.Errorf("app: transport: %w", err)
	}
	runner := drills.New(engine, store, m, log)
	for pattern, h := range api.New(api.Options{
		Key: cfg.APIKey, Engine: engine, Drills: runner, Logger: log,
		MaxTextBytes: cfg.MaxTextBytes, HistoryMax: cfg.HistoryMax, MaxMembers: cfg.MaxMembers,
		Node: cfg.NodeID, LiveNodes: node.liveNodes(),
	}).Routes() {
		srv.Handle(pattern, h)
	}
	jsFiles, err := fs.Sub(jsclient.Files, "src")
	if err != nil {
		return nil, fmt.Errorf("app: js client files: %w", err)
	}
	// "/" rather than "GET /": the least specific pattern never conflicts
	// with a route added later, whatever its method; the page answers 405
	// for methods other than GET and HEAD itself.
	srv.Handle("/", web.Handler(jsFiles))
	// The admin dashboard: more specific than "/", so it wins for its paths.
	srv.Handle("GET /admin", admin.Handler())
	srv.Handle("GET /admin/", admin.Handler())
	stopProfiler := func() {}
	if cfg.PprofAddr != "" {
		if stopProfiler, err = startProfiler(cfg.PprofAddr, log); err != nil {
			return nil, err
		}
	}
	addr, err := srv.Listen()
	if err != nil {
		stopProfiler()
		return nil, err
	}
	stopTrimming, err := startRetention(cfg, store, log)
	if err != nil {
		stopProfiler()
		return nil, err
	}
	a := &App{stopProfiler: stopProfiler, stopTrimming: stopTrimming, cluster: node, Addr: addr, engine: engine, server: srv, store: store, drills: runner, tokens: jwtVerifier, log: log, served: make(chan error, 1)}
	go func() { a.served <- srv.Serve() }()
	log.Info("troupe serving", "addr", addr.String(), "store", cfg.RedactedStore())
	return a, nil
}

// Engine returns the running actor engine, for in-process operations such as
// recovery drills.
func (a *App) Engine() *actors.Engine { return a.engine }

// Faults returns the store's fault switch, for store-stall drills.
func (a *App) Faults() *faults.Store { return a.store }

// Reload re-reads what can change without a restart (SIGHUP): the token
// public keys. On error the old keys stay in use.
func (a *App) Reload() error {
	if a.tokens == nil {
		return nil
	}
	if err := a.tokens.Reload(); err != nil {
		return fmt.Errorf("app: reload token keys: %w", err)
	}
	a.log.Info("token keys reloaded")
	return nil
}

// Served reports the end of serving (an error only if serving failed).
func (a *App) Served() <-chan error { return a.served }

// Shutdown drains the server (connections closed with 1001, rooms flushed to
// the store) and closes the store. Later calls return the first one's result.
func (a *App) Shutdown(ctx context.Context) error {
	a.shutdownOnce.Do(func() { a.shutdownErr = a.shutdown(ctx) })
	return a.shutdownErr
}

func (a *App) shutdown(ctx context.Context) error {
	a.drills.Close() // heals a stalled store before rooms drain into it
	a.stopProfiler()
	a.stopTrimming()
	err := a.server.Shutdown(ctx)
	if a.cluster != nil {
		if cerr := a.cluster.close(ctx, true); cerr != nil {
			err = errors.Join(err, fmt.Errorf("app: leave the cluster: %w", cerr))
		}
	}
	if cerr := a.store.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("app: close store: %w", cerr))
	}
	a.log.Info("troupe stopped")
	return err
}

// startRetention runs the history retention of --history-retention in the
// background and returns the function that stops it (a no-op when retention
// is off). It never trims a room below its latest --recovery-limit messages.
func startRetention(cfg configs.Config, store persistence.Store, log *slog.Logger) (func(), error) {
	policy, err := retention.ParsePolicy(cfg.HistoryRetention)
	if err != nil {
		return nil, fmt.Errorf("app: --history-retention: %w", err)
	}
	if policy.Off() {
		return func() {}, nil
	}
	runner := retention.NewRunner(store, policy, cfg.RecoveryLimit, retention.DefaultBatch, retention.DefaultInterval,
		log.With("component", "retention"), time.Now)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = runner.Run(ctx) // it logs failed passes itself and ends with ctx
	}()
	log.Info("history retention on", "policy", policy.String(), "floor", cfg.RecoveryLimit)
	return func() { cancel(); <-done }, nil
}
