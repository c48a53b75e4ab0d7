package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// ErrNoResponders is the error (test it with errors.Is) that [Conn.Request]
// returns at once when nothing subscribes to the request's subject anywhere in
// the cluster the connection's server knows of.
var ErrNoResponders = nats.ErrNoResponders

// ConnOptions configures a [Conn]. Only URLs is required.
type ConnOptions struct {
	// URLs are the servers to connect to: an [Embedded.ClientURL], or one or
	// more servers of an existing cluster ("nats://host:4222", troupe's
	// --nats). The connection also learns the cluster's other servers from the
	// one it is connected to and fails over to any of them.
	URLs []string
	// Name names the connection on the server side (monitoring, logs):
	// normally the troupe node id.
	Name string
	// ReconnectWait is how long to wait before retrying a server that was
	// just tried; 0 means 250 ms. Reconnects go on forever.
	ReconnectWait time.Duration
	// ReconnectJitter is the upper bound of a random delay added to
	// ReconnectWait so that nodes do not reconnect in step; 0 means 100 ms.
	ReconnectJitter time.Duration
	// ConnectTimeout bounds one dial to one server; 0 means nats.go's 2 s.
	ConnectTimeout time.Duration
	// DrainTimeout bounds [Conn.Close]'s drain; 0 means 5 s.
	DrainTimeout time.Duration
	// RetryOnFailedConnect makes [Connect] succeed even if no server is
	// reachable yet: the connection then keeps trying in the background, as
	// it does after a disconnect, and publishes are buffered meanwhile.
	// Without it, Connect fails when no server answers.
	RetryOnFailedConnect bool

	// Logger receives disconnect, reconnect, close and asynchronous error
	// (slow consumer, permission) events. Nil discards them.
	Logger *slog.Logger
	// OnConnect, if not nil, is called (on a nats.go goroutine, after the
	// event is logged) each time the connection comes up, with the URL of the
	// server it is connected to: once for the first connection (soon after
	// [Connect] returns, or later with RetryOnFailedConnect), then after every
	// reconnect. Subscriptions are restored by then; what was published to
	// them while disconnected is lost.
	OnConnect func(url string)
	// OnDisconnect, if not nil, is called (on a nats.go goroutine, after the
	// event is logged) each time the connection is lost, with the cause if
	// known.
	OnDisconnect func(err error)
}

// Conn is a connection to a NATS server, a thin wrapper over a nats.go
// connection that troupe's cluster adapter uses. It reconnects forever:
// while disconnected, Publish buffers (up to nats.go's 8 MB reconnect buffer,
// then fails) and subscriptions are restored on reconnect. Its methods are
// safe for concurrent use.
type Conn struct {
	nc     *nats.Conn
	log    *slog.Logger
	closed chan struct{} // closed by nats.go's closed handler
}

// Connect connects to opts.URLs.
func Connect(opts ConnOptions) (*Conn, error) {
	if len(opts.URLs) == 0 {
		return nil, errors.New("bus: connect: no server URL")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "nats", "name", opts.Name)
	c := &Conn{log: log, closed: make(chan struct{})}

	wait := durOr(opts.ReconnectWait, 250*time.Millisecond)
	jitter := durOr(opts.ReconnectJitter, 100*time.Millisecond)
	nopts := []nats.Option{
		nats.Name(opts.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(wait),
		nats.ReconnectJitter(jitter, jitter),
		nats.DrainTimeout(durOr(opts.DrainTimeout, 5*time.Second)),
		nats.RetryOnFailedConnect(opts.RetryOnFailedConnect),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			} else {
				log.Info("nats disconnected")
			}
			if opts.OnDisconnect != nil {
				opts.OnDisconnect(err)
			}
		}),
		nats.ConnectHandler(func(nc *nats.Conn) {
			u := nc.ConnectedUrlRedacted()
			log.Info("nats connected", "url", u)
			if opts.OnConnect != nil {
				opts.OnConnect(u)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			u := nc.ConnectedUrlRedacted()
			log.Info("nats reconnected", "url", u)
			if opts.OnConnect != nil {
				opts.OnConnect(u)
			}
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			if err := nc.LastError(); err != nil {
				log.Warn("nats connection closed", "err", err)
			} else {
				log.Info("nats connection closed")
			}
			close(c.closed)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				log.Error("nats async error", "subject", sub.Subject, "err", err)
				return
			}
			log.Error("nats async error", "err", err)
		}),
	}
	if opts.ConnectTimeout > 0 {
		nopts = append(nopts, nats.Timeout(opts.ConnectTimeout))
	}
	urls := strings.Join(opts.URLs, ",")
	nc, err := nats.Connect(urls, nopts...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect to %s: %w", redactURLs(opts.URLs), err)
	}
	c.nc = nc
	return c, nil
}

// Publish sends data to subject. It returns once the message is buffered,
// not delivered: delivery is at most once, to the subscribers whose interest
// has reached the server (see the package doc). data may be reused once
// Publish returns.
func (c *Conn) Publish(subject string, data []byte) error {
	if err := c.nc.Publish(subject, data); err != nil {
		return fmt.Errorf("bus: publish to %s: %w", subject, err)
	}
	return nil
}

// Subscribe calls handler with each message published to subject (which may
// hold the wildcards * and >) until unsubscribe is called or the connection
// is closed.
//
// handler runs on a goroutine of nats.go's, one per subscription: calls for
// one subscription are sequential and in order, calls for different
// subscriptions are concurrent. A slow handler makes messages queue in the
// client (up to nats.go's pending limits: beyond them messages are dropped
// and a slow-consumer error is logged), so a handler that does real work
// hands the message off (to an actor's mailbox) and returns. msg is the
// handler's to keep.
//
// The server knows of the subscription once [Conn.Flush] returns; servers
// across routes learn of it later (see [Embedded.HasInterest]). unsubscribe
// stops delivery; a handler call already running finishes on its own.
func (c *Conn) Subscribe(subject string, handler func(msg []byte)) (unsubscribe func() error, err error) {
	sub, err := c.nc.Subscribe(subject, func(m *nats.Msg) { handler(m.Data) })
	if err != nil {
		return nil, fmt.Errorf("bus: subscribe to %s: %w", subject, err)
	}
	return unsubscribeFunc(sub), nil
}

// Serve answers requests on subject (see [Conn.Request]): handler is called
// as a [Conn.Subscribe] handler is, and what it returns is sent back to the
// requester. A request published without a reply subject gets no answer.
func (c *Conn) Serve(subject string, handler func(request []byte) (reply []byte)) (unsubscribe func() error, err error) {
	sub, err := c.nc.Subscribe(subject, func(m *nats.Msg) {
		reply := handler(m.Data)
		if m.Reply == "" {
			return
		}
		if err := m.Respond(reply); err != nil {
			c.log.Warn("nats reply failed", "subject", subject, "err", err)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("bus: serve %s: %w", subject, err)
	}
	return unsubscribeFunc(sub), nil
}

// ServeAsync answers requests on subject like [Conn.Serve], except that the
// handler need not answer before it returns: it is given respond, which sends
// reply back to the requester and may be called later, from any goroutine.
// Only the first call of respond sends anything; later calls return an error
// and send nothing. A request published without a reply subject gets no
// answer (respond then does nothing and returns nil). A handler that never
// calls respond leaves the requester to time out.
func (c *Conn) ServeAsync(subject string, handler func(request []byte, respond func(reply []byte) error)) (unsubscribe func() error, err error) {
	sub, err := c.nc.Subscribe(subject, func(m *nats.Msg) {
		handler(m.Data, responder(c.nc, subject, m.Reply))
	})
	if err != nil {
		return nil, fmt.Errorf("bus: serve %s: %w", subject, err)
	}
	return unsubscribeFunc(sub), nil
}

// responder returns the respond function of a request that came with reply
// as its reply subject.
func responder(nc *nats.Conn, subject, reply string) func([]byte) error {
	if reply == "" {
		return func([]byte) error { return nil }
	}
	var once atomic.Bool
	return func(data []byte) error {
		if !once.CompareAndSwap(false, true) {
			return fmt.Errorf("bus: reply to a request on %s: already answered", subject)
		}
		if err := nc.Publish(reply, data); err != nil {
			return fmt.Errorf("bus: reply to a request on %s: %w", subject, err)
		}
		return nil
	}
}

// PublishRequest publishes data to subject with reply as the subject to
// answer to, and returns once it is buffered, as [Conn.Publish] does. Replies
// are received by whoever subscribes to reply, normally through
// [Conn.SubscribeInbox], so one request may gather any number of answers.
func (c *Conn) PublishRequest(subject, reply string, data []byte) error {
	if err := c.nc.PublishRequest(subject, reply, data); err != nil {
		return fmt.Errorf("bus: publish request to %s: %w", subject, err)
	}
	return nil
}

// SubscribeInbox subscribes to a fresh inbox, every subject prefix+"."+token
// for one token, and returns prefix: requests published with
// [Conn.PublishRequest] and a reply subject of the inbox get their answers
// there. handler is called (as a [Conn.Subscribe] handler is: sequentially,
// on one goroutine) with each answer's token and data; noResponders is true
// (and data empty) when the message is the server's notice that a request
// published by this connection with that reply subject reached no subscriber
// anywhere (the status behind [ErrNoResponders]).
func (c *Conn) SubscribeInbox(handler func(token string, data []byte, noResponders bool)) (prefix string, unsubscribe func() error, err error) {
	prefix = c.nc.NewInbox()
	sub, err := c.nc.Subscribe(prefix+".*", func(m *nats.Msg) {
		token := m.Subject[len(prefix)+1:]
		noResp := len(m.Data) == 0 && m.Header.Get(statusHeader) == noRespondersStatus
		handler(token, m.Data, noResp)
	})
	if err != nil {
		return "", nil, fmt.Errorf("bus: subscribe to inbox %s: %w", prefix, err)
	}
	return prefix, unsubscribeFunc(sub), nil
}

// statusHeader and noRespondersStatus mark a no-responders notice (nats.go
// keeps its names unexported).
const (
	statusHeader       = "Status"
	noRespondersStatus = "503"
)

func unsubscribeFunc(sub *nats.Subscription) func() error {
	return func() error {
		if err := sub.Unsubscribe(); err != nil {
			return fmt.Errorf("bus: unsubscribe from %s: %w", sub.Subject, err)
		}
		return nil
	}
}

// Request publishes data to subject and waits for the first reply, until ctx
// is done. It fails at once with [ErrNoResponders] when no one serves subject.
func (c *Conn) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	m, err := c.nc.RequestWithContext(ctx, subject, data)
	if err != nil {
		return nil, fmt.Errorf("bus: request to %s: %w", subject, err)
	}
	return m.Data, nil
}

// Flush waits until the server has processed everything sent before it
// (publishes, subscriptions), or ctx is done. Without a deadline on ctx it
// waits at most 10 s.
func (c *Conn) Flush(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	if err := c.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("bus: flush: %w", err)
	}
	return nil
}

// ConnectedURL is the URL of the server the connection is using, "" while
// it is disconnected.
func (c *Conn) ConnectedURL() string { return c.nc.ConnectedUrlRedacted() }

// IsConnected reports whether the connection is up (not reconnecting, not
// closed).
func (c *Conn) IsConnected() bool { return c.nc.IsConnected() }

// Close drains the connection: it stops the subscriptions, lets their
// handlers finish the messages already received, flushes what was
// published, then closes it, and returns once that is done (within
// [ConnOptions.DrainTimeout]). A connection that is disconnected is closed at
// once, dropping what it buffered. Close is idempotent.
func (c *Conn) Close() {
	if err := c.nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		// Drain refuses while reconnecting (and then closes by itself);
		// Close is a no-op if that already happened.
		c.log.Debug("nats drain failed, closing", "err", err)
		c.nc.Close()
	}
	<-c.closed
}

// redactURLs returns urls, comma-separated, without passwords, for errors
// and logs.
func redactURLs(urls []string) string {
	out := make([]string, len(urls))
	for i, s := range urls {
		out[i] = redactURL(s)
	}
	return strings.Join(out, ",")
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func durOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
