// Package cluster implements the engine's cluster port, actors.Cluster, over
// the NATS bus of package bus.
//
// Subjects (names escaped by bus.EncodeToken, so any room, user or node
// string is safe):
//
//   - troupe.room.feed.<room>: a room's feed. Every node with the room active
//     subscribes (SubscribeRoom) and publishes its events (PublishRoom); a
//     node drops its own events, which NATS echoes back.
//   - troupe.node.cmd.<node>: the sends other nodes forward to the rooms a
//     node owns (ServeNode, SendToNode), answered on the sender's inbox.
//   - troupe.cluster.users: user deliveries. Every node subscribes
//     (ServeUsers) and answers with how many connections it reached; the
//     publisher (DeliverToUsers) gathers one answer per other live node on
//     its inbox.
//
// Frames are a compact versioned binary encoding (codec.go). A frame a node
// cannot decode is logged, counted and dropped.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/metrics"
	"github.com/troupe-chat/troupe/transport/bus"
)

// DefaultSendTimeout is the timeout of a SendToNode given none (<= 0).
const DefaultSendTimeout = 5 * time.Second

// ErrClosed is returned (wrapped), or given to SendToNode's done, once the
// adapter is closed.
var ErrClosed = errors.New("cluster: adapter closed")

// Options configures an Adapter. Every field is required but Logger.
type Options struct {
	// Conn is the bus connection. The adapter does not own it: close the
	// adapter first, then the connection.
	Conn *bus.Conn
	// Node names this node, unique in the cluster.
	Node string
	// Live returns the live nodes (the lease keeper's Live, this node
	// included or not). DeliverToUsers waits for an answer from each of them
	// but this one.
	Live func() []string
	// Held reports whether this node holds its lease (the lease keeper's
	// Held); nil: always. A node that lost its lease (it cannot reach the
	// store, or its renewals stalled) is not Healthy: another node may own
	// its rooms by now, so it must not ack.
	Held func() bool
	// Metrics receives ClusterMessages, ClusterBytes and ClusterConnected.
	Metrics *metrics.Metrics
	// Logger receives undecodable frames and failed replies; nil discards.
	Logger *slog.Logger
}

// Adapter is this node's actors.Cluster over a bus connection. Its methods
// are safe for concurrent use.
//
// Metrics: every frame exchanged with another node counts in
// ClusterMessages and ClusterBytes (payload bytes) with direction "in" or
// "out" and kind "feed", "command" (forwarded sends), "reply" (their results
// and the answers to user deliveries) or "user" (user deliveries); a frame
// received that cannot be decoded counts with direction "invalid" and the
// kind of the subject it came on. A node's own feed events and user
// deliveries, echoed back by NATS, are not counted. ClusterConnected is set
// by Healthy, each time it is asked (the engine asks before each send; wire
// the lease keeper's Healthy to it too and it is fresh within a renewal
// interval), and by New and Close.
type Adapter struct {
	conn  *bus.Conn
	node  string
	live  func() []string
	held  func() bool
	m     *metrics.Metrics
	log   *slog.Logger
	bufs  sync.Pool // *[]byte encoding buffers
	count [numDirs][numKinds]traffic

	nodeSubject, usersSubject string
	inbox                     string // prefix of this adapter's reply subjects
	next                      atomic.Uint64

	// closedFlag mirrors closed for the lock-free reads of Healthy and
	// PublishRoom.
	closedFlag atomic.Bool

	mu      sync.Mutex
	closed  bool                    // guarded by mu
	subs    map[uint64]func() error // guarded by mu: every subscription to undo on Close
	subID   uint64                  // guarded by mu
	pending map[string]*call        // guarded by mu: by reply token
	serving [2]bool                 // guarded by mu: ServeNode, ServeUsers
}

var _ actors.Cluster = (*Adapter)(nil)

// Traffic directions and kinds, the labels of the cluster metrics.
const (
	dirIn = iota
	dirOut
	dirInvalid
	numDirs
)

const (
	kindFeed = iota
	kindCommand
	kindReply
	kindUser
	numKinds
)

var (
	dirLabels  = [numDirs]string{"in", "out", "invalid"}
	kindLabels = [numKinds]string{"feed", "command", "reply", "user"}
)

type traffic struct{ msgs, bytes prometheus.Counter }

func (a *Adapter) counted(dir, kind, n int) {
	t := &a.count[dir][kind]
	t.msgs.Inc()
	t.bytes.Add(float64(n))
}

// call is a request awaiting answers on the inbox: a forwarded send (done
// set) or a user delivery (g set).
type call struct {
	node  string
	done  func(actors.RemoteSendResult, error)
	timer *time.Timer
	g     *gather
}

// New subscribes the adapter's inbox and returns it. It serves nothing yet:
// the engine calls ServeNode and ServeUsers.
func New(opts Options) (*Adapter, error) {
	switch {
	case opts.Conn == nil:
		return nil, errors.New("cluster: no bus connection")
	case opts.Live == nil:
		return nil, errors.New("cluster: no live nodes function")
	case opts.Metrics == nil:
		return nil, errors.New("cluster: no metrics")
	}
	nodeSubject, err := bus.NodeSubject(bus.NodeCommand, opts.Node)
	if err != nil {
		return nil, fmt.Errorf("cluster: node id %q: %w", opts.Node, err)
	}
	usersSubject, err := bus.ClusterSubject(bus.ClusterUsers)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Adapter{
		conn: opts.Conn, node: opts.Node, live: opts.Live, held: opts.Held, m: opts.Metrics,
		log:         log.With("node", opts.Node),
		nodeSubject: nodeSubject, usersSubject: usersSubject,
		subs: make(map[uint64]func() error), pending: make(map[string]*call),
	}
	a.bufs.New = func() any { b := make([]byte, 0, 1024); return &b }
	for d := range numDirs {
		for k := range numKinds {
			a.count[d][k] = traffic{
				msgs:  opts.Metrics.ClusterMessages.WithLabelValues(dirLabels[d], kindLabels[k]),
				bytes: opts.Metrics.ClusterBytes.WithLabelValues(dirLabels[d], kindLabels[k]),
			}
		}
	}
	prefix, unsub, err := opts.Conn.SubscribeInbox(a.onAnswer)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	a.inbox = prefix
	a.subs[0] = unsub
	a.subID = 1
	a.Healthy()
	return a, nil
}

// Node implements actors.Cluster.
func (a *Adapter) Node() string { return a.node }

// Healthy implements actors.Cluster: the bus connection is up, the adapter
// open, and the node holds its lease. It sets ClusterConnected (the bus
// connection's state alone).
func (a *Adapter) Healthy() bool {
	up := !a.closedFlag.Load() && a.conn.IsConnected()
	if up {
		a.m.ClusterConnected.Set(1)
	} else {
		a.m.ClusterConnected.Set(0)
	}
	return up && (a.held == nil || a.held())
}

// Close unsubscribes everything the adapter subscribed, ends the calls
// awaiting answers (SendToNode's done gets an error wrapping ErrClosed;
// DeliverToUsers returns), and makes every later call fail with ErrClosed.
// A callback already running finishes on its own. It does not close the
// bus connection. Close is idempotent.
func (a *Adapter) Close() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.closed = true
	a.closedFlag.Store(true)
	subs, pending := a.subs, a.pending
	a.subs, a.pending = nil, nil
	a.mu.Unlock()
	for _, unsub := range subs {
		if err := unsub(); err != nil {
			a.log.Debug("cluster unsubscribe failed", "err", err)
		}
	}
	for _, c := range pending {
		if c.g != nil {
			c.g.finish(ErrClosed)
			continue
		}
		c.timer.Stop()
		c.done(actors.RemoteSendResult{}, fmt.Errorf("cluster: send to node %s: %w", c.node, ErrClosed))
	}
	a.m.ClusterConnected.Set(0)
}

// track keeps unsub for Close and returns the function that undoes it once.
func (a *Adapter) track(unsub func() error) (func(), error) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		_ = unsub()
		return nil, ErrClosed
	}
	id := a.subID
	a.subID++
	a.subs[id] = unsub
	a.mu.Unlock()
	return func() {
		a.mu.Lock()
		_, ok := a.subs[id]
		delete(a.subs, id)
		a.mu.Unlock()
		if !ok {
			return // done already, or by Close
		}
		if err := unsub(); err != nil {
			a.log.Debug("cluster unsubscribe failed", "err", err)
		}
	}, nil
}

// encode runs enc into a pooled buffer and passes the result to use.
func (a *Adapter) encode(enc func([]byte) []byte, use func([]byte) error) (int, error) {
	bp := a.bufs.Get().(*[]byte)
	b := enc((*bp)[:0])
	err := use(b)
	n := len(b)
	if cap(b) <= 64<<10 { // do not keep the buffers of huge batches alive
		*bp = b
		a.bufs.Put(bp)
	}
	return n, err
}

// invalid logs and counts a frame that did not decode.
func (a *Adapter) invalid(kind int, frame []byte, err error) {
	a.counted(dirInvalid, kind, len(frame))
	a.log.Warn("cluster frame dropped", "kind", kindLabels[kind], "bytes", len(frame), "err", err)
}

// Room feed.

// SubscribeRoom implements actors.Cluster. deliver runs on the
// subscription's goroutine, one event at a time; the events' Data fields
// are the adapter's no more (deliver may keep them).
func (a *Adapter) SubscribeRoom(room string, deliver func(actors.RoomEvent)) (func(), error) {
	subject, err := bus.RoomSubject(bus.RoomFeed, room)
	if err != nil {
		return nil, fmt.Errorf("cluster: room %q: %w", room, err)
	}
	unsub, err := a.conn.Subscribe(subject, func(frame []byte) {
		node, err := feedNode(frame)
		if err != nil {
			a.invalid(kindFeed, frame, err)
			return
		}
		if string(node) == a.node {
			return // our own, echoed
		}
		ev, err := decodeFeed(frame)
		if err != nil {
			a.invalid(kindFeed, frame, err)
			return
		}
		a.counted(dirIn, kindFeed, len(frame))
		deliver(ev)
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	stop, err := a.track(unsub)
	if err != nil {
		return nil, fmt.Errorf("cluster: subscribe to room %q: %w", room, err)
	}
	return stop, nil
}

// PublishRoom implements actors.Cluster. ev.Node is set to this node.
func (a *Adapter) PublishRoom(room string, ev actors.RoomEvent) error {
	if a.closedFlag.Load() {
		return fmt.Errorf("cluster: publish to room %q: %w", room, ErrClosed)
	}
	subject, err := bus.RoomSubject(bus.RoomFeed, room)
	if err != nil {
		return fmt.Errorf("cluster: room %q: %w", room, err)
	}
	ev.Node = a.node
	n, err := a.encode(func(b []byte) []byte { return appendFeed(b, &ev) },
		func(b []byte) error { return a.conn.Publish(subject, b) })
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	a.counted(dirOut, kindFeed, n)
	return nil
}

// serve claims the ServeNode (i 0) or ServeUsers (i 1) slot and tracks the
// subscription subscribe makes.
func (a *Adapter) serve(i int, what string, subscribe func() (func() error, error)) (func(), error) {
	a.mu.Lock()
	switch {
	case a.closed:
		a.mu.Unlock()
		return nil, fmt.Errorf("cluster: serve %s: %w", what, ErrClosed)
	case a.serving[i]:
		a.mu.Unlock()
		return nil, fmt.Errorf("cluster: serve %s: already served", what)
	}
	a.serving[i] = true
	a.mu.Unlock()
	unsub, err := subscribe()
	if err == nil {
		var stop func()
		if stop, err = a.track(unsub); err == nil {
			return func() {
				stop()
				a.mu.Lock()
				a.serving[i] = false
				a.mu.Unlock()
			}, nil
		}
	}
	a.mu.Lock()
	a.serving[i] = false
	a.mu.Unlock()
	return nil, fmt.Errorf("cluster: serve %s: %w", what, err)
}

// Forwarded sends.

// ServeNode implements actors.Cluster. serve runs on the subscription's
// goroutine; respond may be called from any goroutine, later; calls after
// the first are logged and ignored.
func (a *Adapter) ServeNode(serve func(actors.RemoteSend, func(actors.RemoteSendResult))) (func(), error) {
	return a.serve(0, "forwarded sends", func() (func() error, error) {
		return a.conn.ServeAsync(a.nodeSubject, func(frame []byte, respond func([]byte) error) {
			reply := func(r actors.RemoteSendResult) {
				n, err := a.encode(func(b []byte) []byte { return appendResult(b, &r) }, respond)
				if err != nil {
					a.log.Warn("cluster send result not sent", "err", err)
					return
				}
				a.counted(dirOut, kindReply, n)
			}
			s, err := decodeSend(frame)
			if err != nil {
				a.invalid(kindCommand, frame, err)
				// Answer, so the sender does not wait and retry in vain.
				if errors.Is(err, errVersion) {
					reply(actors.RemoteSendResult{Code: actors.CodeUnavailable, Message: "the room's owner runs another cluster version; retry"})
				} else {
					reply(actors.RemoteSendResult{Code: actors.CodeInternal, Message: "the room's owner could not read the forwarded send"})
				}
				return
			}
			a.counted(dirIn, kindCommand, len(frame))
			serve(s, reply)
		})
	})
}

// SendToNode implements actors.Cluster. A timeout <= 0 means
// DefaultSendTimeout. An invalid node id, or a send that could not be
// published (closed connection, over the bus's maximum payload), is
// reported as ErrNodeUnreachable: it was not delivered. done runs on the
// inbox's goroutine (an answer or no-responders), on a timer's (a timeout),
// on a goroutine of its own (a failure at once) or on Close's.
func (a *Adapter) SendToNode(node string, send actors.RemoteSend, timeout time.Duration, done func(actors.RemoteSendResult, error)) {
	if timeout <= 0 {
		timeout = DefaultSendTimeout
	}
	subject, err := bus.NodeSubject(bus.NodeCommand, node)
	if err != nil {
		go done(actors.RemoteSendResult{}, fmt.Errorf("cluster: send to node %q: %w: %w", node, actors.ErrNodeUnreachable, err))
		return
	}
	token := strconv.FormatUint(a.next.Add(1), 36)
	c := &call{node: node, done: done}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		go done(actors.RemoteSendResult{}, fmt.Errorf("cluster: send to node %s: %w", node, ErrClosed))
		return
	}
	a.pending[token] = c
	c.timer = time.AfterFunc(timeout, func() {
		if a.take(token) != nil {
			done(actors.RemoteSendResult{}, fmt.Errorf("cluster: send to node %s: no answer within %v: %w",
				node, timeout, context.DeadlineExceeded))
		}
	})
	a.mu.Unlock()

	n, err := a.encode(func(b []byte) []byte { return appendSend(b, &send) },
		func(b []byte) error { return a.conn.PublishRequest(subject, a.inbox+"."+token, b) })
	if err != nil {
		if a.take(token) != nil {
			c.timer.Stop()
			go done(actors.RemoteSendResult{}, fmt.Errorf("cluster: send to node %s: %w: %w", node, actors.ErrNodeUnreachable, err))
		}
		return
	}
	a.counted(dirOut, kindCommand, n)
}

// take removes and returns the call awaiting answers on token, nil if there
// is none (answered, timed out, closed).
func (a *Adapter) take(token string) *call {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.pending[token]
	delete(a.pending, token)
	return c
}

// onAnswer handles a message on the inbox: a send's result, a user
// delivery's answer, or a no-responders notice for either.
func (a *Adapter) onAnswer(token string, frame []byte, noResponders bool) {
	a.mu.Lock()
	c := a.pending[token]
	if c != nil && c.g == nil {
		delete(a.pending, token) // a send gets one answer
	}
	a.mu.Unlock()
	if c == nil {
		if !noResponders {
			a.counted(dirIn, kindReply, len(frame))
			a.log.Debug("cluster answer after its call ended", "token", token)
		}
		return
	}
	if c.g != nil {
		a.onUserAnswer(c.g, frame, noResponders)
		return
	}
	c.timer.Stop()
	if noResponders {
		c.done(actors.RemoteSendResult{}, fmt.Errorf("cluster: send to node %s: %w: %w", c.node, actors.ErrNodeUnreachable, bus.ErrNoResponders))
		return
	}
	r, err := decodeResult(frame)
	if err != nil {
		a.invalid(kindReply, frame, err)
		c.done(actors.RemoteSendResult{}, fmt.Errorf("cluster: send to node %s: unreadable answer: %w", c.node, err))
		return
	}
	a.counted(dirIn, kindReply, len(frame))
	c.done(r, nil)
}

// User deliveries.

// ServeUsers implements actors.Cluster. deliver runs on the subscription's
// goroutine, one delivery at a time (so one node's deliveries to a user keep
// their order): a slow deliver holds up the next ones.
func (a *Adapter) ServeUsers(deliver func(actors.UserDelivery) int) (func(), error) {
	return a.serve(1, "user deliveries", func() (func() error, error) {
		return a.conn.ServeAsync(a.usersSubject, func(frame []byte, respond func([]byte) error) {
			r, err := decodeUser(frame)
			if err != nil {
				a.invalid(kindUser, frame, err)
				return
			}
			if r.Node == a.node {
				return // our own, echoed: the engine delivered here itself
			}
			a.counted(dirIn, kindUser, len(frame))
			ans := userAnswer{Node: a.node, N: deliver(r.D)}
			n, err := a.encode(func(b []byte) []byte { return appendUserAnswer(b, &ans) }, respond)
			if err != nil {
				a.log.Warn("cluster user delivery answer not sent", "err", err)
				return
			}
			a.counted(dirOut, kindReply, n)
		})
	})
}

// gather collects the answers to one user delivery.
type gather struct {
	self     string
	mu       sync.Mutex
	want     map[string]bool // nodes not heard from yet
	seen     map[string]bool // nodes heard from
	total    int
	err      error         // why it ended early: no responders, closed
	complete chan struct{} // closed once every wanted node answered, or err is set
	ended    bool
}

// errNoResponders ends a user delivery that reached no node at all.
var errNoResponders = fmt.Errorf("%w: no node serves user deliveries", actors.ErrNodeUnreachable)

func (g *gather) add(node string, n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ended || node == g.self || g.seen[node] {
		return
	}
	g.seen[node] = true
	g.total += max(n, 0)
	delete(g.want, node)
	if len(g.want) == 0 {
		g.ended = true
		close(g.complete)
	}
}

func (g *gather) finish(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.ended {
		g.ended, g.err = true, err
		close(g.complete)
	}
}

func (a *Adapter) onUserAnswer(g *gather, frame []byte, noResponders bool) {
	if noResponders {
		g.finish(errNoResponders)
		return
	}
	ans, err := decodeUserAnswer(frame)
	if err != nil {
		a.invalid(kindReply, frame, err)
		return
	}
	a.counted(dirIn, kindReply, len(frame))
	g.add(ans.Node, ans.N)
}

// DeliverToUsers implements actors.Cluster. It publishes d once and waits
// for an answer from every node Live lists at the call but this one; answers
// from nodes it did not list count too, each node's once. With no other
// live node it returns 0 at once. When no node at all serves user
// deliveries, it returns at once with an error wrapping
// actors.ErrNodeUnreachable.
func (a *Adapter) DeliverToUsers(ctx context.Context, d actors.UserDelivery) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("cluster: deliver to user %q: %w", d.User, err)
	}
	g := &gather{self: a.node, want: map[string]bool{}, seen: map[string]bool{}, complete: make(chan struct{})}
	for _, n := range a.live() {
		if n != a.node {
			g.want[n] = true
		}
	}
	wanted := len(g.want)
	if wanted == 0 {
		return 0, nil
	}
	token := strconv.FormatUint(a.next.Add(1), 36)
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return 0, fmt.Errorf("cluster: deliver to user %q: %w", d.User, ErrClosed)
	}
	a.pending[token] = &call{g: g}
	a.mu.Unlock()
	defer a.take(token)

	req := userRequest{Node: a.node, D: d}
	n, err := a.encode(func(b []byte) []byte { return appendUser(b, &req) },
		func(b []byte) error { return a.conn.PublishRequest(a.usersSubject, a.inbox+"."+token, b) })
	if err != nil {
		return 0, fmt.Errorf("cluster: deliver to user %q: %w", d.User, err)
	}
	a.counted(dirOut, kindUser, n)

	select {
	case <-g.complete:
	case <-ctx.Done():
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.ended && g.err != nil:
		return g.total, fmt.Errorf("cluster: deliver to user %q: %w", d.User, g.err)
	case g.ended:
		return g.total, nil
	}
	g.ended = true // late answers are ignored
	return g.total, fmt.Errorf("cluster: deliver to user %q: %d of %d nodes answered: %w",
		d.User, wanted-len(g.want), wanted, ctx.Err())
}
