package transport

import (
	"github.com/jonboulle/clockwork"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/lxzan/gws"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/metrics"
	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/transport/wire"
)

// Deps are the transport's collaborators.
type Deps struct {
	Engine   *actors.Engine
	Store    persistence.Store
	Verifier actors.TokenVerifier // nil: token query parameters are refused
	Metrics  *metrics.Metrics
	Gatherer prometheus.Gatherer // served at /metrics
	Logger   *slog.Logger
	Clock    actors.Clock // the engine's clock; nil: real time
}

// Server is troupe's HTTP front: WebSocket upgrades at /ws, health, readiness
// and metrics.
type Server struct {
	cfg            Config               // static
	protocol       actors.Config        // static: the engine's settings, some enforced here
	engine         *actors.Engine       // static
	store          persistence.Store    // static
	verifier       actors.TokenVerifier // static
	metrics        *metrics.Metrics     // static
	gatherer       prometheus.Gatherer  // static
	log            *slog.Logger         // static
	clock          actors.Clock         // static
	origins        *originPolicy        // static
	proxies        *proxyPolicy         // static
	limits         wire.Limits          // static
	troupeUpgrader *gws.Upgrader        // static: selects troupe.v1
	plainUpgrader  *gws.Upgrader        // static: no subprotocol
	http           *http.Server         // static

	readers  sync.WaitGroup // read loops of upgraded connections
	writers  sync.WaitGroup // sockets with a writer (a flusher's turn or a goroutine)
	flushers *flushers      // static
	deflate  *deflateCache  // static: broadcasts deflated once; nil without --compression

	mu       sync.Mutex
	conns    map[*wsConn]struct{} // guarded by mu
	admitted *admission           // guarded by mu
	ln       net.Listener         // guarded by mu
	draining bool                 // guarded by mu: Shutdown began; upgrades are refused
}

// New validates the configuration and builds the server; it starts nothing.
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.Engine == nil || deps.Store == nil || deps.Metrics == nil || deps.Gatherer == nil {
		return nil, errors.New("transport: Engine, Store, Metrics and Gatherer are required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("transport: invalid config: %w", err)
	}
	protocol := deps.Engine.Config()
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Clock == nil {
		deps.Clock = clockwork.NewRealClock()
	}
	origins, err := parseOrigins(cfg.AllowedOrigins)
	if err != nil {
		return nil, err
	}
	proxies, err := parseProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, protocol: protocol, engine: deps.Engine, store: deps.Store, verifier: deps.Verifier,
		metrics: deps.Metrics, gatherer: deps.Gatherer, log: deps.Logger.With("component", "transport"), clock: deps.Clock, origins: origins, proxies: proxies,
		limits: wire.Limits{MaxTextBytes: cfg.MaxTextBytes, HistoryMax: protocol.HistoryMax,
			MaxSignalBytes: protocol.SignalMaxBytes, MaxStateBytes: protocol.PresenceStateMaxBytes},
		conns:    make(map[*wsConn]struct{}),
		flushers: newFlushers(),
		admitted: newAdmission(cfg.MaxConns, cfg.MaxConnsPerIP),
	}
	handler := &wsHandler{srv: s}
	opt := func(sub []string) *gws.ServerOption {
		return &gws.ServerOption{
			ReadMaxPayloadSize: readLimit(cfg, protocol),
			ReadBufferSize:     readBufferSize,
			NewSession:         newOneValueSession,
			CheckUtf8Enabled:   true,
			ParallelEnabled:    false,
			Recovery:           gws.Recovery,
			HandshakeTimeout:   cfg.ReadHeaderTimeout,
			SubProtocols:       sub,
			Logger:             gwsLogger{s.log},
			// No context takeover either way: one deflated broadcast serves
			// every member, and a connection holds no compression window.
			// gws inflates what clients send, bounded by ReadMaxPayloadSize
			// (a bomb is closed with 1009), and deflates what it writes
			// itself; the flushers write broadcast frames deflated once.
			PermessageDeflate: gws.PermessageDeflate{
				Enabled:   cfg.Compression,
				Level:     deflateLevel,
				Threshold: cfg.CompressionMinBytes,
				PoolSize:  deflatePoolSize,
			},
		}
	}
	if cfg.Compression {
		s.deflate = newDeflateCache(deflateLevel, deflateCacheFrames)
	}
	s.troupeUpgrader = gws.NewUpgrader(handler, opt([]string{wire.Subprotocol}))
	s.plainUpgrader = gws.NewUpgrader(handler, opt(nil))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", s.upgrade)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{}))
	s.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Handle adds a route to the server's mux (the server API and web pages).
func (s *Server) Handle(pattern string, h http.Handler) {
	s.http.Handler.(*http.ServeMux).Handle(pattern, h)
}

// Listen binds the configured address and returns the bound one.
func (s *Server) Listen() (net.Addr, error) {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen %s: %w", s.cfg.Addr, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	return ln.Addr(), nil
}

// Serve serves on the listener bound by Listen until Shutdown.
func (s *Server) Serve() error {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	if ln == nil {
		return errors.New("transport: Serve before Listen")
	}
	if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("transport: serve: %w", err)
	}
	return nil
}

// Shutdown stops accepting, lets the engine close every connection (1001) and
// store what rooms hold, then waits for the sockets to finish. net/http does
// not wait for hijacked WebSockets, so the server waits for them itself.
//
// Order: refuse upgrades and answer /readyz with 503 at once, drain the
// engine while plain HTTP still answers, then stop the HTTP server.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	var errs []error
	if err := s.engine.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.http.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("transport: http shutdown: %w", err))
	}
	done := make(chan struct{})
	go func() {
		s.readers.Wait()
		s.writers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for wc := range s.conns {
			_ = wc.sock.conn.NetConn().Close() // out of time: cut what is left
		}
		s.mu.Unlock()
		<-done
		errs = append(errs, fmt.Errorf("transport: connections still open at the deadline: %w", ctx.Err()))
	}
	return errors.Join(errs...)
}

func (s *Server) connOpened(wc *wsConn) {
	s.mu.Lock()
	s.conns[wc] = struct{}{}
	s.mu.Unlock()
	s.metrics.ConnectionsOpened.Inc()
	s.metrics.ConnectionsActive.Inc()
	s.log.Info("connection opened", "ip", wc.ip) // no per-connection logger: it would cost every idle connection memory
}

func (s *Server) connClosed(wc *wsConn, code int) {
	s.mu.Lock()
	delete(s.conns, wc)
	s.admitted.release(wc.ip)
	s.mu.Unlock()
	s.metrics.ConnectionsActive.Dec()
	s.metrics.CloseCode(code)
	s.log.Info("connection closed", "ip", wc.ip, "code", code, "duration", time.Since(wc.opened).Round(time.Millisecond))
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("ok\n")) // a failed write means the client left
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()
	if draining {
		http.Error(w, "draining", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		http.Error(w, "store unreachable", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ready\n")) // a failed write means the client left
}

// gwsLogger routes gws's own log lines to slog.
type gwsLogger struct{ log *slog.Logger }

// Error implements gws.Logger.
func (l gwsLogger) Error(v ...any) { l.log.Error("gws", "msg", fmt.Sprint(v...)) }

// inflateHeadroom is how far beyond --max-frame-bytes gws may read or
// inflate a message when compression is on, so that a deflate bomb within
// it is closed with 1009 by OnMessage's own check (gws reports an inflation
// over its limit as 1011). A bomb inflating past it still ends with gws's
// 1011; the server stays up either way.
const inflateHeadroom = 16

// readLimit is gws's bound on one message, raw or inflated.
func readLimit(cfg Config, protocol actors.Config) int {
	if cfg.Compression {
		return inflateHeadroom * protocol.MaxFrameBytes
	}
	return protocol.MaxFrameBytes
}
