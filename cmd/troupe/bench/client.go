package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// conn is a load-generating protocol client: it counts and timestamps what it
// receives without decoding frames it does not need.
type conn struct {
	ws      *gws.Conn
	onFrame func(c *conn, b []byte)
	replies sync.Map // request id → chan []byte
	nextID  atomic.Int64
	closed  chan struct{}
}

// dialer opens connections from a rotating set of loopback source addresses,
// so more than one source port range is available.
type dialer struct {
	target *url.URL
	srcs   []net.IP
	next   atomic.Uint64
}

func newDialer(rawURL string, srcs []net.IP) (*dialer, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("bench: url: %w", err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	}
	u.Path = "/ws"
	return &dialer{target: u, srcs: srcs}, nil
}

func (d *dialer) dial(ctx context.Context, onFrame func(*conn, []byte)) (*conn, error) {
	nd := net.Dialer{Timeout: 10 * time.Second}
	if len(d.srcs) > 0 {
		ip := d.srcs[d.next.Add(1)%uint64(len(d.srcs))]
		nd.LocalAddr = &net.TCPAddr{IP: ip}
	}
	tcp, err := nd.DialContext(ctx, "tcp", d.target.Host)
	if err != nil {
		return nil, fmt.Errorf("bench: dial: %w", err)
	}
	c := &conn{onFrame: onFrame, closed: make(chan struct{})}
	ws, _, err := gws.NewClientFromConn(c, &gws.ClientOption{Addr: d.target.String(), ReadMaxPayloadSize: 16 << 20}, tcp)
	if err != nil {
		tcp.Close()
		return nil, fmt.Errorf("bench: handshake: %w", err)
	}
	c.ws = ws
	go ws.ReadLoop()
	return c, nil
}

// OnOpen implements gws.Event.
func (c *conn) OnOpen(*gws.Conn) {}

// OnClose implements gws.Event.
func (c *conn) OnClose(*gws.Conn, error) { close(c.closed) }

// OnPing implements gws.Event.
func (c *conn) OnPing(ws *gws.Conn, p []byte) { _ = ws.WritePong(p) }

// OnPong implements gws.Event.
func (c *conn) OnPong(*gws.Conn, []byte) {}

// OnMessage implements gws.Event.
func (c *conn) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	b := m.Bytes()
	if id, ok := frameID(b); ok {
		if ch, ok := c.replies.LoadAndDelete(id); ok {
			ch.(chan []byte) <- append([]byte(nil), b...)
			return
		}
	}
	if c.onFrame != nil {
		c.onFrame(c, b)
	}
}

var idKey = []byte(`"id":`)

// frameID finds a reply's top-level "id" (it follows "type" in every reply).
func frameID(b []byte) (int64, bool) {
	i := bytes.Index(b, idKey)
	if i < 0 || i > 32 {
		return 0, false
	}
	j := i + len(idKey)
	k := j
	for k < len(b) && b[k] >= '0' && b[k] <= '9' {
		k++
	}
	n, err := strconv.ParseInt(string(b[j:k]), 10, 64)
	return n, err == nil
}

// request sends a frame with a fresh id and waits for its reply.
func (c *conn) request(ctx context.Context, frame map[string]any) (map[string]any, error) {
	id := c.nextID.Add(1)
	frame["id"] = id
	ch := make(chan []byte, 1)
	c.replies.Store(id, ch)
	b, err := json.Marshal(frame)
	if err != nil {
		return nil, err
	}
	if err := c.ws.WriteMessage(gws.OpcodeText, b); err != nil {
		return nil, fmt.Errorf("bench: write: %w", err)
	}
	select {
	case r := <-ch:
		var v map[string]any
		if err := json.Unmarshal(r, &v); err != nil {
			return nil, err
		}
		if v["type"] == "error" {
			return v, fmt.Errorf("bench: %v: %v", v["code"], v["message"])
		}
		return v, nil
	case <-c.closed:
		return nil, errors.New("bench: connection closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *conn) close() {
	_ = c.ws.WriteClose(1000, nil)
}
