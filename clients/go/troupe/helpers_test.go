package troupe_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/clients/go/troupe"
	"github.com/troupe-chat/troupe/cmd/troupe/app"
	"github.com/troupe-chat/troupe/cmd/troupe/app/apptest"
)

// waitTime bounds every wait for an event or a condition.
const waitTime = 15 * time.Second

// fastReconnect keeps reconnect tests quick.
var fastReconnect = troupe.Backoff{Min: 10 * time.Millisecond, Max: 100 * time.Millisecond}

// startServer runs a real troupe server on 127.0.0.1:0 with a SQLite store
// in a temp dir and returns it with its base URL.
func startServer(t testing.TB, flags ...string) (*app.App, string) {
	t.Helper()
	a := apptest.Start(t, flags...)
	return a, apptest.URL(a)
}

// recorder keeps every event a client delivered, in order.
type recorder struct {
	mu     sync.Mutex
	events []troupe.Event
	signal chan struct{} // buffered 1: an event arrived
}

func newRecorder() *recorder { return &recorder{signal: make(chan struct{}, 1)} }

func (r *recorder) on(ev troupe.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

func (r *recorder) snapshot() []troupe.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]troupe.Event(nil), r.events...)
}

// until waits until cond holds for the events so far.
func (r *recorder) until(t testing.TB, what string, cond func([]troupe.Event) bool) []troupe.Event {
	t.Helper()
	timeout := time.NewTimer(waitTime)
	defer timeout.Stop()
	for {
		evs := r.snapshot()
		if cond(evs) {
			return evs
		}
		select {
		case <-r.signal:
		case <-timeout.C:
			t.Fatalf("timed out waiting for %s; events: %v", what, evs)
		}
	}
}

// await returns the first event of type T that matches.
func await[T troupe.Event](t testing.TB, r *recorder, what string, match func(T) bool) T {
	t.Helper()
	var found T
	r.until(t, what, func(evs []troupe.Event) bool {
		for _, ev := range evs {
			if e, ok := ev.(T); ok && (match == nil || match(e)) {
				found = e
				return true
			}
		}
		return false
	})
	return found
}

// messages returns the message events of room, in delivery order.
func messages(evs []troupe.Event, room string) []troupe.MessageEvent {
	var out []troupe.MessageEvent
	for _, ev := range evs {
		if m, ok := ev.(troupe.MessageEvent); ok && m.Room == room {
			out = append(out, m)
		}
	}
	return out
}

// dial connects a client that records its events and closes at cleanup.
func dial(t testing.TB, url string, opts troupe.Options) (*troupe.Client, *recorder) {
	t.Helper()
	rec := newRecorder()
	opts.URL = url
	opts.OnEvent = rec.on
	if opts.Reconnect == (troupe.Backoff{}) {
		opts.Reconnect = fastReconnect
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	c, err := troupe.Dial(ctx, opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		<-c.Done()
	})
	return c, rec
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	t.Cleanup(cancel)
	return ctx
}

// faultDialer wraps the client's TCP connections so a test can cut them at
// chosen moments. The zero value dials normally.
type faultDialer struct {
	dials    atomic.Int32
	drop     atomic.Pointer[string] // swallow client frames containing this (they never reach the server)
	killAck  atomic.Bool            // cut the connection instead of handing over a read with an ack (once)
	dropped  chan struct{}          // when not nil, told (without blocking) of each swallowed frame
	droppedN atomic.Int32           // swallowed frames
	gate     chan struct{}          // when not nil, dials after the first wait for a value or close
	pings    atomic.Int32           // server pings read
	pinged   chan struct{}          // when not nil, told (without blocking) of each ping

	// holdIn, when above 0, holds the reads of every dial after the first
	// until that dial wrote this many text frames (at most waitTime): what
	// a client writes before its first reply is then what it wrote without
	// waiting for one, however fast the server answers.
	holdIn atomic.Int32

	tapMu   sync.Mutex
	tapped  []tapFrame    // guarded by tapMu: every text frame, in the order written and read
	written chan struct{} // guarded by tapMu: closed and replaced at each frame written
}

// awaitWritten waits until dial wrote n text frames, at most waitTime.
func (d *faultDialer) awaitWritten(dial int32, n int) {
	timeout := time.After(waitTime)
	for {
		d.tapMu.Lock()
		count := 0
		for _, f := range d.tapped {
			if f.dial == dial && f.out {
				count++
			}
		}
		if d.written == nil {
			d.written = make(chan struct{})
		}
		ch := d.written
		d.tapMu.Unlock()
		if count >= n {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			return
		}
	}
}

// tapFrame is one text frame a client connection wrote (out) or read.
type tapFrame struct {
	dial int32
	out  bool
	typ  string
}

// frames returns the types of dial's text frames as "out:hello",
// "in:welcome", …, in the order the client wrote and read them.
func (d *faultDialer) frames(dial int32) []string {
	d.tapMu.Lock()
	defer d.tapMu.Unlock()
	var out []string
	for _, f := range d.tapped {
		if f.dial == dial {
			dir := "in:"
			if f.out {
				dir = "out:"
			}
			out = append(out, dir+f.typ)
		}
	}
	return out
}

func (d *faultDialer) tap(dial int32, out bool, payload []byte) {
	var f struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(payload, &f) != nil {
		return
	}
	d.tapMu.Lock()
	d.tapped = append(d.tapped, tapFrame{dial: dial, out: out, typ: f.Type})
	if out && d.written != nil {
		close(d.written)
		d.written = nil
	}
	d.tapMu.Unlock()
}

// dropFrames swallows client frames of the given type from now on ("" stops).
func (d *faultDialer) dropFrames(typ string) {
	if typ == "" {
		d.drop.Store(nil)
		return
	}
	pat := `"type":"` + typ + `"`
	d.drop.Store(&pat)
}

func (d *faultDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	dial := d.dials.Add(1)
	if dial > 1 && d.gate != nil {
		select {
		case <-d.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &faultConn{Conn: nc, d: d, dial: dial}, nil
}

type faultConn struct {
	net.Conn
	d    *faultDialer
	dial int32
	in   []byte // server bytes read past the upgrade, not yet a whole frame; owned by Read
	open bool   // the upgrade response was read; owned by Read
}

var errCut = errors.New("connection cut by the test")

func (c *faultConn) Read(p []byte) (int, error) {
	if hold := c.d.holdIn.Load(); hold > 0 && c.dial > 1 && c.open {
		c.d.awaitWritten(c.dial, int(hold))
	}
	n, err := c.Conn.Read(p)
	c.tapIn(p[:n])
	if n > 0 && p[0] == 0x89 { // a server ping starts this read
		c.d.pings.Add(1)
		select {
		case c.d.pinged <- struct{}{}:
		default:
		}
	}
	if n > 0 && bytes.Contains(p[:n], []byte(`"type":"ack"`)) && c.d.killAck.CompareAndSwap(true, false) {
		if cerr := c.Conn.Close(); cerr != nil {
			return 0, errors.Join(errCut, cerr)
		}
		return 0, errCut
	}
	return n, err
}

// tapIn records the server's text frames in b (the stream after the
// upgrade response; uncompressed frames only: the tests that tap negotiate
// no compression).
func (c *faultConn) tapIn(b []byte) {
	c.in = append(c.in, b...)
	if !c.open {
		i := bytes.Index(c.in, []byte("\r\n\r\n"))
		if i < 0 {
			return
		}
		c.in, c.open = c.in[i+4:], true
	}
	for len(c.in) >= 2 {
		n, i := uint64(c.in[1]&0x7f), 2
		switch n {
		case 126:
			if len(c.in) < 4 {
				return
			}
			n, i = uint64(binary.BigEndian.Uint16(c.in[2:])), 4
		case 127:
			if len(c.in) < 10 {
				return
			}
			n, i = binary.BigEndian.Uint64(c.in[2:]), 10
		}
		if uint64(len(c.in)) < uint64(i)+n {
			return
		}
		if c.in[0]&0x0f == 1 && c.in[0]&0x40 == 0 { // text, not compressed
			c.d.tap(c.dial, false, c.in[i:uint64(i)+n])
		}
		c.in = c.in[uint64(i)+n:]
	}
}

// Write swallows the frames to drop and taps the text frames it lets
// through; a write may hold several frames (the client corks a reconnect's
// hello and joins into one).
func (c *faultConn) Write(p []byte) (int, error) {
	var out []byte
	for rest := p; len(rest) > 0; {
		size, payload := maskedFrame(rest)
		if size == 0 { // not whole frames (the upgrade request): as it is
			out = append(out, rest...)
			break
		}
		frame := rest[:size]
		rest = rest[size:]
		if pat := c.d.drop.Load(); pat != nil && bytes.Contains(payload, []byte(*pat)) {
			c.d.droppedN.Add(1)
			if c.d.dropped != nil {
				select {
				case c.d.dropped <- struct{}{}:
				default:
				}
			}
			continue // swallowed: the server never sees it
		}
		if frame[0]&0x0f == 1 {
			c.d.tap(c.dial, true, payload)
		}
		out = append(out, frame...)
	}
	if len(out) > 0 {
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// maskedFrame returns the size and the unmasked payload of the masked
// client frame that starts b, or 0 when b does not start with a whole one.
func maskedFrame(b []byte) (int, []byte) {
	if len(b) < 2 || b[1]&0x80 == 0 {
		return 0, nil
	}
	n, i := uint64(b[1]&0x7f), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return 0, nil
		}
		n, i = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return 0, nil
		}
		n, i = binary.BigEndian.Uint64(b[2:]), 10
	}
	if uint64(len(b)) < uint64(i)+4+n {
		return 0, nil
	}
	key := b[i : i+4]
	out := make([]byte, n)
	for j := range out {
		out[j] = b[i+4+j] ^ key[j%4]
	}
	return i + 4 + int(n), out
}

// killConns crashes one welcomed connection per client with KillConns. A
// connection counts as welcomed on the server a moment after its welcome is
// sent, so each attempt that finds none waits for a ping's round trip.
func killConns(t testing.TB, srv *app.App, clients ...*troupe.Client) {
	t.Helper()
	ctx := testCtx(t)
	for killed := 0; killed < len(clients); {
		n := srv.Engine().KillConns(len(clients) - killed)
		killed += n
		if n == 0 {
			if _, err := clients[0].Ping(ctx); err != nil && ctx.Err() != nil {
				t.Fatalf("KillConns found only %d of %d connections", killed, len(clients))
			}
		}
	}
}
