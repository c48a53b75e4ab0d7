package app_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// frameWait bounds how long a test waits for an expected frame or close.
const frameWait = 10 * time.Second

// rawClient is a protocol-level WebSocket client for tests: it sends raw JSON
// and hands every received frame to the test in order.
type rawClient struct {
	t      testing.TB
	conn   *gws.Conn
	frames chan map[string]any
	raw    chan []byte
	closed chan struct{}
	muted  atomic.Bool // when set, pings are not answered (a half-dead client)

	mu        sync.Mutex
	closeCode int // guarded by mu: the code of the server's close frame, 1006 if none
	nextID    int64
}

// dial connects to the server's /ws endpoint with an optional query string
// and subprotocol offer.
func dial(t testing.TB, addr, query, subprotocol string) (*rawClient, error) {
	c := &rawClient{t: t, frames: make(chan map[string]any, 4096), raw: make(chan []byte, 4096), closed: make(chan struct{})}
	hdr := http.Header{}
	if subprotocol != "" {
		hdr.Set("Sec-WebSocket-Protocol", subprotocol)
	}
	url := "ws://" + addr + "/ws"
	if query != "" {
		url += "?" + query
	}
	conn, resp, err := gws.NewClient(c, &gws.ClientOption{Addr: url, RequestHeader: hdr, ReadMaxPayloadSize: 16 << 20})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial: HTTP %d: %w", resp.StatusCode, err)
		}
		return nil, err
	}
	c.conn = conn
	go conn.ReadLoop()
	t.Cleanup(func() { c.conn.NetConn().Close() })
	return c, nil
}

func mustDial(t testing.TB, addr string) *rawClient {
	t.Helper()
	c, err := dial(t, addr, "", "troupe.v1")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return c
}

// OnOpen implements gws.Event.
func (c *rawClient) OnOpen(*gws.Conn) {}

// OnClose implements gws.Event.
func (c *rawClient) OnClose(_ *gws.Conn, err error) {
	code := 1006
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		code = int(ce.Code)
	}
	c.mu.Lock()
	c.closeCode = code
	c.mu.Unlock()
	close(c.closed)
}

// OnPing implements gws.Event.
func (c *rawClient) OnPing(conn *gws.Conn, p []byte) {
	if !c.muted.Load() {
		_ = conn.WritePong(p)
	}
}

// OnPong implements gws.Event.
func (c *rawClient) OnPong(*gws.Conn, []byte) {}

// OnMessage implements gws.Event.
func (c *rawClient) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	b := append([]byte(nil), m.Bytes()...)
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		v = map[string]any{"type": "__not_json__", "raw": string(b)}
	}
	c.frames <- v
	c.raw <- b
}

// sendRaw writes a text frame.
func (c *rawClient) sendRaw(s string) {
	c.t.Helper()
	if err := c.conn.WriteString(s); err != nil {
		c.t.Fatalf("send %s: %v", s, err)
	}
}

// sendJSON writes v as a JSON text frame.
func (c *rawClient) sendJSON(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(string(b))
}

// next returns the next frame, failing the test after frameWait.
func (c *rawClient) next() map[string]any {
	c.t.Helper()
	select {
	case f := <-c.frames:
		<-c.raw
		return f
	case <-c.closed:
		select {
		case f := <-c.frames:
			<-c.raw
			return f
		default:
		}
		c.t.Fatalf("connection closed (code %d) while waiting for a frame", c.code())
	case <-time.After(frameWait):
		c.t.Fatalf("no frame within %s", frameWait)
	}
	return nil
}

// nextOfType skips frames until one of type typ arrives.
func (c *rawClient) nextOfType(typ string) map[string]any {
	c.t.Helper()
	for {
		f := c.next()
		if f["type"] == typ {
			return f
		}
	}
}

// waitClose waits for the connection to end and returns the server's close code.
func (c *rawClient) waitClose() int {
	c.t.Helper()
	select {
	case <-c.closed:
		return c.code()
	case <-time.After(frameWait):
		c.t.Fatalf("connection still open after %s", frameWait)
	}
	return 0
}

func (c *rawClient) code() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCode
}

// request sends a frame with a fresh id and returns the first reply with that id.
func (c *rawClient) request(v map[string]any) map[string]any {
	c.t.Helper()
	c.mu.Lock()
	c.nextID++
	id := c.nextID + 1_000_000
	c.mu.Unlock()
	v["id"] = id
	c.sendJSON(v)
	for {
		f := c.next()
		if n, ok := f["id"].(float64); ok && int64(n) == id {
			return f
		}
	}
}

// hello says hello and returns the welcome.
func (c *rawClient) hello(name string) map[string]any {
	c.t.Helper()
	f := c.request(map[string]any{"type": "hello", "name": name})
	if f["type"] != "welcome" {
		c.t.Fatalf("hello: got %v", f)
	}
	return f
}
