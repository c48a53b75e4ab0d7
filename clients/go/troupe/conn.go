package troupe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// conn is one WebSocket connection: it writes frames, matches replies to
// pending calls by id, and hands every other frame to its client. It never
// reconnects; the client replaces it.
type conn struct {
	client *Client       // static
	log    *slog.Logger  // static
	done   chan struct{} // closed when the read loop has ended
	// tokenGen is the client's token generation the hello carried. Static
	// after the hello.
	tokenGen uint64
	// reconnected: not the client's first connection. Static.
	reconnected bool
	// rejoins are the joins written behind the hello of a reconnect, by
	// room. Static after connect.
	rejoins map[string]*sentJoin
	// abandoned: connect gave up on the hello; never installed after that.
	// Guarded by the client's mu.
	abandoned bool

	ws         *gws.Conn     // set once after the handshake, before the read loop starts
	cork       *corkConn     // static after the handshake: ws's network connection
	aborted    atomic.Bool   // abort was called: frames still buffered are ignored
	readWindow atomic.Int64  // read deadline after each frame, in ns (0: none)
	readMoved  atomic.Int64  // when extendRead last moved the deadline, in ns since born (0: never)
	born       time.Time     // static: creation, the monotonic base of readMoved
	frameLimit atomic.Int64  // the server's frame limit in bytes (0: unknown)
	wmu        sync.Mutex    // serializes a write with its deadline
	writeWait  time.Duration // static

	mu    sync.Mutex
	calls map[int64]*call // guarded by mu; nil once the connection ended
	cause error           // guarded by mu: why the connection ended (first reason wins)
}

// call is a request waiting for its reply.
type call struct {
	reply chan *inFrame // buffered 1
	// hook runs on the read loop with the reply before anyone sees it, so
	// state it changes is in place before the next frame is handled.
	hook func(*inFrame)
}

func newConn(c *Client, seq uint64) *conn {
	return &conn{
		client:    c,
		log:       c.log.With("conn", seq),
		done:      make(chan struct{}),
		born:      time.Now(),
		calls:     make(map[int64]*call),
		writeWait: c.opts.RequestTimeout,
	}
}

// OnOpen implements gws.Event.
func (cn *conn) OnOpen(*gws.Conn) {}

// OnClose implements gws.Event: it records why the connection ended, fails
// pending calls and closes done.
func (cn *conn) OnClose(_ *gws.Conn, err error) {
	var cause error
	if ce, ok := errors.AsType[*gws.CloseError](err); ok {
		cause = &CloseError{Code: int(ce.Code), Reason: string(ce.Reason)}
	} else {
		cause = fmt.Errorf("troupe: connection lost: %w", err)
	}
	cn.mu.Lock()
	if cn.cause == nil {
		cn.cause = cause
	}
	cn.calls = nil
	cn.mu.Unlock()
	cn.log.Debug("connection ended", "cause", cn.err())
	close(cn.done)
}

// OnPing implements gws.Event: it answers the server's heartbeat.
func (cn *conn) OnPing(ws *gws.Conn, payload []byte) {
	cn.extendRead()
	if err := cn.writeFrame(gws.OpcodePong, payload); err != nil {
		cn.log.Debug("pong failed", "err", err)
	}
}

// OnPong implements gws.Event.
func (cn *conn) OnPong(*gws.Conn, []byte) { cn.extendRead() }

// OnMessage implements gws.Event: it decodes the frame and routes it.
func (cn *conn) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	if cn.aborted.Load() {
		return // a frame after a dropped one must not be delivered
	}
	cn.extendRead()
	if m.Opcode != gws.OpcodeText {
		cn.log.Warn("ignoring a non-text frame", "opcode", m.Opcode)
		return
	}
	b := m.Bytes()
	if hook := cn.client.opts.OnRawPush; hook != nil && isPush(b) && hook(b) {
		return // consumed raw: nothing decoded, no state changed
	}
	f, err := decodeFrame(b) // copies everything out of the reused buffer
	if err != nil {
		cn.log.Warn("ignoring an undecodable frame", "err", err)
		return
	}
	if f.ID != 0 {
		if f.Type == typeAck && f.Room != "" {
			cn.client.ownAck(f.Room, f.Offset)
		}
		if cl := cn.take(f.ID); cl != nil {
			if cl.hook != nil && f.Type != typeError {
				cl.hook(f)
			}
			cl.reply <- f
			return
		}
		cn.log.Debug("late reply", "type", f.Type, "id", f.ID, "code", f.Code)
		return
	}
	if err := cn.client.handlePush(f); err != nil {
		cn.abort(err)
	}
}

// extendRead moves the read deadline after a frame arrived. Moving it
// updates a runtime timer, so under a flood of frames it moves at most once
// per 1/16 of the window: the deadline stays at least 15/16 of the window
// after the last frame, still past the server's next ping.
func (cn *conn) extendRead() {
	w := cn.readWindow.Load()
	if w <= 0 {
		return
	}
	now := time.Now()
	at := int64(now.Sub(cn.born))
	if last := cn.readMoved.Load(); last != 0 && at-last < w/16 {
		return
	}
	cn.readMoved.Store(at)
	if err := cn.ws.SetReadDeadline(now.Add(time.Duration(w))); err != nil {
		cn.log.Debug("set read deadline", "err", err)
	}
}

// welcomed applies the welcome's heartbeat and limits: the read deadline
// becomes a heartbeat interval plus the server's timeout, enough for the
// server's pings to keep it alive.
func (cn *conn) welcomed(f *inFrame) {
	if f.Heartbeat.IntervalMS > 0 {
		w := time.Duration(f.Heartbeat.IntervalMS+max(f.Heartbeat.TimeoutMS, f.Heartbeat.IntervalMS)) * time.Millisecond
		cn.readWindow.Store(int64(w))
		cn.extendRead()
	} else if err := cn.ws.SetReadDeadline(time.Time{}); err != nil { // no heartbeat: only the hello deadline applied
		cn.log.Debug("clear read deadline", "err", err)
	}
	cn.frameLimit.Store(int64(f.Limits.FrameBytes))
}

// take removes and returns the call waiting for id.
func (cn *conn) take(id int64) *call {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	cl := cn.calls[id]
	delete(cn.calls, id)
	return cl
}

// err returns why the connection ended, nil while it lives.
func (cn *conn) err() error {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.cause
}

// abort drops the connection for reason without a close frame, as a network
// failure would, so the session stays resumable.
func (cn *conn) abort(reason error) {
	cn.aborted.Store(true)
	cn.mu.Lock()
	if cn.cause == nil {
		cn.cause = reason
	}
	cn.mu.Unlock()
	if err := cn.ws.NetConn().Close(); err != nil {
		cn.log.Debug("close after abort", "err", err)
	}
}

// close ends the connection with a normal close frame.
func (cn *conn) close() {
	cn.mu.Lock()
	if cn.cause == nil {
		cn.cause = ErrClosed
	}
	cn.mu.Unlock()
	if err := cn.ws.WriteClose(CloseNormal, nil); err != nil && !errors.Is(err, gws.ErrConnClosed) {
		cn.log.Debug("close frame", "err", err)
	}
}

// write sends v as one JSON text frame.
func (cn *conn) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode frame: %w", err)
	}
	if limit := cn.frameLimit.Load(); limit > 0 && int64(len(b)) > limit {
		return fmt.Errorf("%w: %d > %d bytes", ErrFrameTooLarge, len(b), limit)
	}
	return cn.writeFrame(gws.OpcodeText, b)
}

// writeFrame writes one frame within writeWait. Every write sets its own
// deadline: a deadline left over from an earlier write must not fail a
// later one (a pong after a quiet minute, say).
func (cn *conn) writeFrame(op gws.Opcode, payload []byte) error {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	if err := cn.ws.SetWriteDeadline(time.Now().Add(cn.writeWait)); err != nil {
		return fmt.Errorf("%w: %w", ErrDisconnected, err)
	}
	if err := cn.ws.WriteMessage(op, payload); err != nil {
		return fmt.Errorf("%w: write: %w", ErrDisconnected, err)
	}
	return nil
}

// roundTrip sends a request with the given id and waits for its reply, at
// most timeout. An error frame comes back as a *ServerError; hook (optional)
// runs on the read loop with the reply.
func (cn *conn) roundTrip(ctx context.Context, id int64, frame any, hook func(*inFrame), timeout time.Duration) (*inFrame, error) {
	return cn.start(id, frame, hook, timeout).wait(ctx)
}

// pending is a request written on a connection whose reply nobody waited
// for yet: start writes it, wait (or drop) ends it. A reconnect writes its
// hello and its rooms' joins this way, one after the other, before it
// waits for any reply.
type pending struct {
	cn       *conn
	id       int64
	cl       *call       // nil: the connection had ended (err says why)
	timer    *time.Timer // started with the write
	timeout  time.Duration
	err      error // the write's failure
	finished bool  // wait or drop ran
}

// start registers a call for id and writes frame; the timeout runs from now.
func (cn *conn) start(id int64, frame any, hook func(*inFrame), timeout time.Duration) *pending {
	p := &pending{cn: cn, id: id, timeout: timeout}
	cl := &call{reply: make(chan *inFrame, 1), hook: hook}
	cn.mu.Lock()
	if cn.calls == nil {
		cause := cn.cause
		cn.mu.Unlock()
		p.err = fmt.Errorf("%w: %w", ErrDisconnected, cause)
		return p
	}
	cn.calls[id] = cl
	cn.mu.Unlock()
	p.cl = cl
	p.timer = time.NewTimer(timeout)
	p.err = cn.write(frame)
	return p
}

// drop gives up on the reply without waiting for it.
func (p *pending) drop() {
	if p.finished || p.cl == nil {
		return
	}
	p.finished = true
	p.timer.Stop()
	p.cn.take(p.id)
}

// wait waits for the reply of a started request. An error frame comes back
// as a *ServerError.
func (p *pending) wait(ctx context.Context) (*inFrame, error) {
	cn, cl, err := p.cn, p.cl, p.err
	if cl == nil {
		return nil, err
	}
	defer p.drop()
	if err != nil {
		if !errors.Is(err, ErrDisconnected) {
			return nil, err
		}
		// The socket is closed; the read loop's report of why (a close
		// frame, say) is better than the write's.
		select {
		case <-cn.done:
			return nil, fmt.Errorf("%w: %w", ErrDisconnected, cn.err())
		case <-p.timer.C:
			cn.abort(err)
			return nil, err
		}
	}
	select {
	case f := <-cl.reply:
		return replyOrError(f)
	case <-cn.done:
		select {
		case f := <-cl.reply:
			return replyOrError(f)
		default:
		}
		return nil, fmt.Errorf("%w: %w", ErrDisconnected, cn.err())
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.timer.C:
		select {
		case f := <-cl.reply: // it came as the timer fired: the reply wins
			return replyOrError(f)
		default:
		}
		return nil, fmt.Errorf("%w after %s", ErrRequestTimeout, p.timeout)
	}
}

func replyOrError(f *inFrame) (*inFrame, error) {
	if err := f.serverError(); err != nil {
		return nil, err
	}
	return f, nil
}
