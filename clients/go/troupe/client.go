package troupe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// Client is a troupe connection that survives drops: it reconnects, resumes
// its session and recovers its rooms. Its methods are safe for concurrent use.
type Client struct {
	opts   Options            // static
	url    *url.URL           // static: the WebSocket endpoint
	log    *slog.Logger       // static
	ctx    context.Context    // static: ends at Close; bounds dials and rejoins
	cancel context.CancelFunc // static

	nextID    atomic.Int64  // request ids, unique across connections
	connSeq   atomic.Uint64 // connection numbers, for logs
	wg        sync.WaitGroup
	closeOnce sync.Once

	inHandler    atomic.Bool   // OnEvent is running
	dispatchDone chan struct{} // closed when the dispatcher has delivered the last event
	wake         chan struct{} // buffered 1: events were queued

	mu        sync.Mutex
	cur       *conn            // guarded by mu: the welcomed connection, nil while there is none
	changed   chan struct{}    // guarded by mu: closed and replaced when cur, a room's readiness or closedErr changes
	closedErr error            // guarded by mu: set once the client is closed for good
	session   string           // guarded by mu
	user      User             // guarded by mu
	token     string           // guarded by mu
	tokenGen  uint64           // guarded by mu: bumped by SetToken
	rooms     map[string]*room // guarded by mu: rooms joined, by name
	queue     []Event          // guarded by mu: events not yet taken by the dispatcher
	final     bool             // guarded by mu: ClosedEvent is queued; nothing follows it
}

// Dial connects to the server, says hello and waits for the welcome. After
// it returns, the client keeps itself connected until Close or a close it
// must not reconnect after.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	u, err := wsURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("troupe: %w", err)
	}
	c := &Client{
		opts:         opts,
		url:          u,
		log:          opts.Logger.With("component", "troupe-client"),
		dispatchDone: make(chan struct{}),
		wake:         make(chan struct{}, 1),
		changed:      make(chan struct{}),
		session:      opts.Session,
		token:        opts.Token,
		rooms:        make(map[string]*room),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	cn, err := c.connect(ctx, false)
	if err != nil {
		c.cancel()
		c.wg.Wait()
		return nil, fmt.Errorf("troupe: dial %s: %w", u, err)
	}
	go c.dispatch()
	c.wg.Add(1)
	go c.run(cn)
	return c, nil
}

// connect opens a WebSocket, says hello and installs the connection as the
// current one.
func (c *Client) connect(ctx context.Context, reconnect bool) (*conn, error) {
	cn := newConn(c, c.connSeq.Add(1))
	cn.reconnected = reconnect
	ws, err := c.handshake(ctx, cn)
	if err != nil {
		return nil, err
	}
	cn.ws = ws
	if err := ws.SetReadDeadline(time.Now().Add(c.opts.RequestTimeout)); err != nil {
		cn.log.Debug("set read deadline", "err", err)
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ws.ReadLoop()
	}()

	c.mu.Lock()
	hello := helloFrame{Type: typeHello, ID: c.newID(), Token: c.token, Name: c.opts.Name, Session: c.session}
	cn.tokenGen = c.tokenGen
	c.mu.Unlock()
	// The welcome is installed on the read loop, before the next frame: the
	// replies to joins pipelined behind the hello find the connection current.
	cn.cork.cork()
	answer := cn.start(hello.ID, hello, func(f *inFrame) { c.install(cn, f, reconnect) }, c.opts.RequestTimeout)
	if reconnect {
		cn.rejoins = c.sendRejoins(cn)
	}
	if err := cn.cork.uncork(); err != nil {
		// The read loop reports how the connection ended, which fails the calls.
		cn.log.Debug("hello not written", "err", err)
	}
	f, err := answer.wait(ctx)
	// Installed or abandoned, decided under c.mu, which install holds: a
	// welcome that came as the wait gave up (a timeout, a cancelled ctx)
	// still made the connection current, and the replies to its rejoins
	// may have made rooms ready on it, so it is kept. One not installed is
	// abandoned before install can run, and its replies change nothing.
	c.mu.Lock()
	installed := c.cur == cn
	if !installed {
		cn.abandoned = true
		switch {
		case err != nil:
		case f.Type != typeWelcome:
			err = fmt.Errorf("hello answered with %q", f.Type)
		case c.closedErr != nil:
			err = c.closedErr
		default:
			err = errors.New("welcome not installed")
		}
	}
	session, user := c.session, c.user
	c.mu.Unlock()
	if !installed {
		for _, sj := range cn.rejoins {
			sj.drop()
		}
		cn.close()
		return nil, fmt.Errorf("hello: %w", err)
	}
	cn.log.Info("connected", "session", session, "user", user.ID, "late", err != nil)
	return cn, nil
}

// install makes cn the current connection with its welcome f, unless
// connect abandoned it (it gave up waiting first) or the client closed; it
// runs on the read loop.
func (c *Client) install(cn *conn, f *inFrame, reconnect bool) {
	if f.Type != typeWelcome {
		return
	}
	cn.welcomed(f)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closedErr != nil || cn.abandoned {
		return
	}
	c.cur = cn
	c.session = f.Session
	c.user = f.User
	c.enqueueLocked(ConnectedEvent{Session: f.Session, User: f.User, Conn: f.Conn, Resumed: f.Resumed, Reconnect: reconnect})
	c.notifyLocked()
}

// handshake dials TCP (and TLS) and upgrades to WebSocket with subprotocol
// troupe.v1, all within RequestTimeout.
func (c *Client) handshake(ctx context.Context, cn *conn) (*gws.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
	defer cancel()
	nc, err := c.opts.DialContext(ctx, "tcp", hostPort(c.url))
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	if c.url.Scheme == "wss" {
		cfg := &tls.Config{}
		if c.opts.TLSConfig != nil {
			cfg = c.opts.TLSConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = c.url.Hostname()
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, errors.Join(fmt.Errorf("tls: %w", err), nc.Close())
		}
		nc = tc
	}
	cn.cork = &corkConn{Conn: nc}
	nc = cn.cork
	stop := context.AfterFunc(ctx, func() { cn.closeNet(nc) })
	hdr := c.opts.Header.Clone()
	if hdr == nil {
		hdr = http.Header{}
	}
	hdr.Set("Sec-WebSocket-Protocol", Subprotocol)
	ws, resp, err := gws.NewClientFromConn(cn, &gws.ClientOption{
		Addr:               c.url.String(),
		RequestHeader:      hdr,
		HandshakeTimeout:   c.opts.RequestTimeout,
		ReadMaxPayloadSize: c.opts.MaxFrameBytes,
		PermessageDeflate: gws.PermessageDeflate{
			Enabled: c.opts.Compression,
			// No context takeover, as troupe servers negotiate: every
			// message is deflated on its own.
			Threshold: compressMinBytes,
		},
	}, nc)
	if !stop() {
		cn.closeNet(nc)
		return nil, fmt.Errorf("upgrade: %w", ctx.Err())
	}
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, &HandshakeError{Status: resp.StatusCode, Err: err}
		}
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	return ws, nil
}

// closeNet closes an abandoned network connection.
func (cn *conn) closeNet(nc net.Conn) {
	if err := nc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		cn.log.Debug("close abandoned connection", "err", err)
	}
}

// Close closes the connection with 1000, stops reconnecting and waits for
// the client's goroutines, the event dispatcher included (unless Close is
// called from OnEvent). It is idempotent and always returns nil.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		cn := c.cur
		first := c.closedErr == nil
		if first {
			c.closedErr = ErrClosed
			c.cur = nil
			c.notifyLocked()
		}
		c.mu.Unlock()
		c.cancel()
		if cn != nil {
			cn.close()
		}
		c.wg.Wait()
		c.mu.Lock()
		if first {
			c.enqueueLocked(ClosedEvent{Code: CloseNormal})
		}
		c.final = true
		c.wakeLocked()
		c.mu.Unlock()
	})
	if !c.inHandler.Load() {
		<-c.dispatchDone
	}
	return nil
}

// Done is closed once the client is closed and its last event delivered.
func (c *Client) Done() <-chan struct{} { return c.dispatchDone }

// Err returns why the client is closed, or nil while it is not.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closedErr
}

// Session returns the session id the server last gave.
func (c *Client) Session() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// User returns the user the server welcomed.
func (c *Client) User() User {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.user
}

// Connected reports whether a welcomed connection is up.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur != nil
}

func (c *Client) newID() int64 { return c.nextID.Add(1) }

// notifyLocked wakes everyone waiting for a state change.
func (c *Client) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// sleep waits d, or returns early with an error when ctx ends or the client
// closes.
func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.ctx.Done():
		return ErrClosed
	}
}
