package app_test

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// HTTP-level tests: the WebSocket handshake as bytes on a socket, the plain
// routes (/healthz, /readyz, /metrics) and malformed upgrades.

// rfcKey and rfcAccept are the Sec-WebSocket-Key example of RFC 6455 §1.3 and
// the Sec-WebSocket-Accept it must produce.
const (
	rfcKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	rfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// handshake is an upgrade done by hand on a raw TCP connection.
type handshake struct {
	conn net.Conn
	br   *bufio.Reader
	resp *http.Response
}

// rawUpgrade writes an upgrade request for /ws by hand, one
// Sec-WebSocket-Protocol line per element of protocolLines (none when empty),
// and reads the response head exactly as the server sent it.
func rawUpgrade(t *testing.T, addr string, protocolLines ...string) *handshake {
	t.Helper()
	return rawUpgradeFrom(t, "127.0.0.1", addr, protocolLines...)
}

// rawUpgradeFrom is rawUpgrade from a given loopback source address.
func rawUpgradeFrom(t *testing.T, localIP, addr string, protocolLines ...string) *handshake {
	t.Helper()
	return rawUpgradeWith(t, &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}}, addr, protocolLines...)
}

// rawUpgradeWith is rawUpgrade through the given dialer.
func rawUpgradeWith(t *testing.T, d *net.Dialer, addr string, protocolLines ...string) *handshake {
	t.Helper()
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(frameWait)); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("GET /ws HTTP/1.1\r\n")
	b.WriteString("Host: " + addr + "\r\n")
	b.WriteString("Upgrade: websocket\r\n")
	b.WriteString("Connection: Upgrade\r\n")
	b.WriteString("Sec-WebSocket-Key: " + rfcKey + "\r\n")
	b.WriteString("Sec-WebSocket-Version: 13\r\n")
	for _, p := range protocolLines {
		b.WriteString("Sec-WebSocket-Protocol: " + p + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatalf("write upgrade request: %v", err)
	}
	br := bufio.NewReader(conn)
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/ws", nil)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatalf("read upgrade response: %v", err)
	}
	return &handshake{conn: conn, br: br, resp: resp}
}

// writeText sends one masked text frame (a client frame, RFC 6455 §5.3).
func (h *handshake) writeText(t *testing.T, payload string) {
	t.Helper()
	if len(payload) > 125 {
		t.Fatalf("writeText handles short frames only, got %d bytes", len(payload))
	}
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	frame := []byte{0x81, 0x80 | byte(len(payload))}
	frame = append(frame, mask[:]...)
	for i := range len(payload) {
		frame = append(frame, payload[i]^mask[i%4])
	}
	if _, err := h.conn.Write(frame); err != nil {
		t.Fatalf("write frame: %v", err)
	}
}

// readFrame reads one unfragmented, unmasked server frame.
func (h *handshake) readFrame(t *testing.T) (opcode byte, payload []byte) {
	t.Helper()
	var head [2]byte
	if _, err := io.ReadFull(h.br, head[:]); err != nil {
		t.Fatalf("read frame head: %v", err)
	}
	if head[0]&0x80 == 0 {
		t.Fatalf("fragmented server frame (head %#x)", head[0])
	}
	if head[1]&0x80 != 0 {
		t.Fatalf("server frame is masked (RFC 6455 §5.1 forbids it)")
	}
	n := uint64(head[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(h.br, ext[:]); err != nil {
			t.Fatal(err)
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(h.br, ext[:]); err != nil {
			t.Fatal(err)
		}
		n = binary.BigEndian.Uint64(ext[:])
	}
	if n > 1<<20 {
		t.Fatalf("server frame of %d bytes", n)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(h.br, payload); err != nil {
		t.Fatalf("read frame payload: %v", err)
	}
	return head[0] & 0x0f, payload
}

// helloOverRaw proves the upgraded socket speaks the protocol: a hello by
// hand gets a welcome with the same id.
func (h *handshake) helloOverRaw(t *testing.T) {
	t.Helper()
	h.writeText(t, `{"type":"hello","id":7,"name":"raw"}`)
	op, p := h.readFrame(t)
	if op != 0x1 {
		t.Fatalf("first frame after hello: opcode %#x (%q), want a text frame", op, p)
	}
	var f map[string]any
	if err := json.Unmarshal(p, &f); err != nil {
		t.Fatalf("welcome is not JSON: %q", p)
	}
	if f["type"] != "welcome" || f["id"] != float64(7) {
		t.Fatalf("hello over the raw socket: got %s", p)
	}
}

func TestSubprotocolNegotiation(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	addr := srv.Addr.String()
	for _, tc := range []struct {
		name  string
		offer []string // one header line each
		want  []string // Sec-WebSocket-Protocol values in the 101
	}{
		{name: "troupe.v1 alone", offer: []string{"troupe.v1"}, want: []string{"troupe.v1"}},
		{name: "troupe.v1 among others", offer: []string{"chat, troupe.v1"}, want: []string{"troupe.v1"}},
		{name: "troupe.v1 first among others", offer: []string{"troupe.v1,chat,other.v2"}, want: []string{"troupe.v1"}},
		{name: "only another protocol", offer: []string{"other.v2"}},
		{name: "several other protocols", offer: []string{"chat, other.v2"}},
		{name: "no offer"},
		// RFC 6455 §11.3.4: the header may appear more than once, meaning the
		// same as one line with all the values.
		{name: "troupe.v1 on a second header line", offer: []string{"chat", "troupe.v1"}, want: []string{"troupe.v1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := rawUpgrade(t, addr, tc.offer...)
			if h.resp.StatusCode != http.StatusSwitchingProtocols {
				body, _ := io.ReadAll(io.LimitReader(h.resp.Body, 512))
				t.Fatalf("offer %q: HTTP %d (%s), want 101", tc.offer, h.resp.StatusCode, body)
			}
			if got := h.resp.Header.Get("Sec-WebSocket-Accept"); got != rfcAccept {
				t.Errorf("Sec-WebSocket-Accept %q, want %q", got, rfcAccept)
			}
			if got := h.resp.Header.Values("Sec-WebSocket-Protocol"); !equalStrings(got, tc.want) {
				t.Errorf("offer %q: Sec-WebSocket-Protocol %q, want %q", tc.offer, got, tc.want)
			}
			h.helloOverRaw(t)
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// httpGet does one GET against the server and returns status, content type
// and body.
func httpGet(t *testing.T, addr, path string) (int, string, string) {
	t.Helper()
	client := &http.Client{Timeout: frameWait}
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", path, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	addr := srv.Addr.String()

	if code, _, body := httpGet(t, addr, "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q, want 200 \"ok\\n\"", code, body)
	}
	if code, _, body := httpGet(t, addr, "/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Errorf("/readyz: %d %q, want 200 \"ready\\n\"", code, body)
	}
	// Still ready with a connection in a room: serving is not draining.
	c := mustDial(t, addr)
	c.hello("probe")
	if j := c.request(map[string]any{"type": "join", "room": "ready"}); j["type"] != "joined" {
		t.Fatalf("join: %v", j)
	}
	if code, _, body := httpGet(t, addr, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz while serving a client: %d %q, want 200", code, body)
	}
	// The routes are GET only.
	resp, err := (&http.Client{Timeout: frameWait}).Post("http://"+addr+"/healthz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz: %d, want 405", resp.StatusCode)
	}
}

// promSample is one sample line of the Prometheus text format.
type promSample struct {
	name   string // metric name with its labels, as written: foo{a="b"}
	value  float64
	family string // the family named by the closest # TYPE line
}

// parseProm reads the text exposition format into the families it declares
// (# TYPE) and its samples.
func parseProm(t *testing.T, text string) (types map[string]string, samples []promSample) {
	t.Helper()
	types = map[string]string{}
	family := ""
	for _, line := range strings.Split(text, "\n") {
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			types[name] = typ
			family = name
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("malformed sample line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample line %q: %v", line, err)
		}
		samples = append(samples, promSample{name: line[:i], value: v, family: family})
	}
	return types, samples
}

// scrape fetches /metrics and returns the families and samples.
func scrape(t *testing.T, addr string) (map[string]string, []promSample) {
	t.Helper()
	code, ctype, body := httpGet(t, addr, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d: %s", code, body)
	}
	if !strings.HasPrefix(ctype, "text/plain") {
		t.Fatalf("/metrics: Content-Type %q, want the Prometheus text format", ctype)
	}
	return parseProm(t, body)
}

// sample returns the value of the sample written exactly as name (with
// labels), failing when it is missing.
func sample(t *testing.T, samples []promSample, name string) float64 {
	t.Helper()
	for _, s := range samples {
		if s.name == name {
			return s.value
		}
	}
	t.Fatalf("no sample %s in /metrics", name)
	return 0
}

func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--rate-limit", "0")
	addr := srv.Addr.String()

	a := mustDial(t, addr)
	a.hello("alice")
	joined := a.request(map[string]any{"type": "join", "room": "metrics"})
	if joined["type"] != "joined" {
		t.Fatalf("join: %v", joined)
	}
	ack := a.request(map[string]any{"type": "send", "room": "metrics", "text": "hello metrics", "cid": "m-1"})
	if ack["type"] != "ack" {
		t.Fatalf("send: %v", ack)
	}

	types, samples := scrape(t, addr)
	want := map[string]string{
		"troupe_connections_active":    "gauge",
		"troupe_frames_in_total":       "counter",
		"troupe_frames_out_total":      "counter",
		"troupe_deliveries_total":      "counter",
		"troupe_rooms_active":          "gauge",
		"troupe_store_latency_seconds": "histogram",
		"go_goroutines":                "gauge",
	}
	if runtime.GOOS == "linux" {
		want["process_resident_memory_bytes"] = "gauge"
	}
	for name, typ := range want {
		if got, ok := types[name]; !ok {
			t.Errorf("/metrics has no family %s", name)
		} else if got != typ {
			t.Errorf("%s is a %s, want a %s", name, got, typ)
		}
	}
	for _, s := range samples {
		if strings.HasPrefix(s.family, "troupe_") && !strings.HasPrefix(s.name, "troupe_") {
			t.Errorf("sample %s sits in family %s", s.name, s.family)
		}
	}

	// One client connected: exactly one active connection, one room.
	if v := sample(t, samples, "troupe_connections_active"); v != 1 {
		t.Errorf("troupe_connections_active = %v with one client connected, want 1", v)
	}
	if v := sample(t, samples, "troupe_rooms_active"); v != 1 {
		t.Errorf("troupe_rooms_active = %v with one room joined, want 1", v)
	}
	// The read goroutine counts a frame before the engine sees it, so these
	// are exact once the replies have arrived.
	for _, typ := range []string{"hello", "join", "send"} {
		if v := sample(t, samples, `troupe_frames_in_total{type="`+typ+`"}`); v != 1 {
			t.Errorf("frames in of type %s = %v, want 1", typ, v)
		}
	}
	// welcome and joined are counted before the next request is handled.
	for _, typ := range []string{"welcome", "joined"} {
		if v := sample(t, samples, `troupe_frames_out_total{type="`+typ+`"}`); v < 1 {
			t.Errorf("frames out of type %s = %v, want >= 1", typ, v)
		}
	}
	// The store call is timed before the room acknowledges.
	if v := sample(t, samples, `troupe_store_latency_seconds_count{op="append"}`); v < 1 {
		t.Errorf("store append latency count = %v after an acked send, want >= 1", v)
	}
	if v := sample(t, samples, "go_goroutines"); v < 1 {
		t.Errorf("go_goroutines = %v", v)
	}

	// A second member receives the next message: one delivery.
	b := mustDial(t, addr)
	b.hello("bob")
	if j := b.request(map[string]any{"type": "join", "room": "metrics"}); j["type"] != "joined" {
		t.Fatalf("join: %v", j)
	}
	before := sample(t, samples, "troupe_deliveries_total")
	a.request(map[string]any{"type": "send", "room": "metrics", "text": "for bob", "cid": "m-2"})
	if msg := b.nextOfType("message"); msg["room"] != "metrics" {
		t.Fatalf("bob got %v", msg)
	}
	// A presence query goes through the room actor after its broadcast, so
	// the delivery is counted by the time the answer arrives.
	if p := b.request(map[string]any{"type": "presence", "room": "metrics"}); p["type"] != "presence" {
		t.Fatalf("presence: %v", p)
	}
	_, samples = scrape(t, addr)
	if v := sample(t, samples, "troupe_deliveries_total"); v != before+1 {
		t.Errorf("troupe_deliveries_total = %v after one message to one other member, want %v", v, before+1)
	}
	if v := sample(t, samples, "troupe_connections_active"); v != 2 {
		t.Errorf("troupe_connections_active = %v with two clients connected, want 2", v)
	}
}

// TestMalformedUpgrades sends requests to /ws that are not valid WebSocket
// upgrades: each gets a 4xx, and the server keeps serving.
func TestMalformedUpgrades(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	addr := srv.Addr.String()
	// A fresh connection per request: gws answers a failed upgrade with a 400
	// and closes the socket without "Connection: close", so a pooled
	// connection would be reused after the server closed it.
	client := &http.Client{Timeout: frameWait, Transport: &http.Transport{DisableKeepAlives: true}}

	for _, tc := range []struct {
		name   string
		method string
		header map[string]string
	}{
		{"plain GET", http.MethodGet, nil},
		{"no Upgrade header", http.MethodGet, map[string]string{
			"Connection": "Upgrade", "Sec-WebSocket-Key": rfcKey, "Sec-WebSocket-Version": "13",
		}},
		{"no key", http.MethodGet, map[string]string{
			"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
		}},
		{"wrong version", http.MethodGet, map[string]string{
			"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Key": rfcKey, "Sec-WebSocket-Version": "8",
		}},
		{"POST", http.MethodPost, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, "http://"+addr+"/ws", nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s /ws: %v", tc.method, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode < 400 || resp.StatusCode > 499 {
				t.Fatalf("%s /ws (%s): HTTP %d, want 4xx", tc.method, tc.name, resp.StatusCode)
			}
		})
	}

	// The server still upgrades and serves a real client, and still answers.
	c := mustDial(t, addr)
	w := c.hello("after-bad-upgrades")
	if w["session"] == nil {
		t.Fatalf("welcome without a session: %v", w)
	}
	if p := c.request(map[string]any{"type": "ping"}); p["type"] != "pong" {
		t.Fatalf("ping: %v", p)
	}
	if code, _, _ := httpGet(t, addr, "/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz after bad upgrades: %d", code)
	}
}

// TestServerCloseHandshake checks the close handshake the server starts (here
// at the hello deadline): one close frame with the code, then, after the
// client answers with its own close frame, the end of the stream — no second
// close frame and no pong after the close.
func TestServerCloseHandshake(t *testing.T) {
	a := startServer(t, "--hello-timeout", "100ms")
	h := rawUpgrade(t, a.Addr.String(), "troupe.v1")
	if h.resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %s", h.resp.Status)
	}
	op, p := h.readFrame(t)
	if op != 0x8 || len(p) < 2 || binary.BigEndian.Uint16(p) != 1008 {
		t.Fatalf("got opcode %#x payload %q, want a 1008 close frame", op, p)
	}
	// A ping and then the answering close frame (both masked client frames).
	mask := [4]byte{1, 2, 3, 4}
	code := []byte{0x03, 0xf0} // 1008
	for i := range code {
		code[i] ^= mask[i%4]
	}
	frames := append([]byte{0x89, 0x80}, mask[:]...)
	frames = append(frames, 0x88, 0x82)
	frames = append(frames, mask[:]...)
	frames = append(frames, code...)
	if _, err := h.conn.Write(frames); err != nil {
		t.Fatalf("write: %v", err)
	}
	rest, err := io.ReadAll(h.br)
	if err != nil {
		t.Fatalf("read after the close handshake: %v", err)
	}
	if len(rest) != 0 {
		t.Fatalf("server sent %d more bytes after its close frame: %x", len(rest), rest)
	}
}

// TestCloseCodesCounted checks that closes gws starts on a read fault (1009 for
// an oversized frame, 1007 for invalid UTF-8) are counted under their codes.
func TestCloseCodesCounted(t *testing.T) {
	a := startServer(t)
	addr := a.Addr.String()
	big := mustDial(t, addr)
	big.hello("big")
	if err := big.conn.WriteString(`{"type":"ping","pad":"` + strings.Repeat("x", 70_000) + `"}`); err != nil {
		t.Fatal(err)
	}
	if code := big.waitClose(); code != 1009 {
		t.Fatalf("oversized frame closed with %d, want 1009", code)
	}
	utf := mustDial(t, addr)
	utf.hello("utf")
	if err := utf.conn.WriteMessage(gws.OpcodeText, []byte("{\"type\":\"ping\",\"x\":\"\xff\"}")); err != nil {
		t.Fatal(err)
	}
	if code := utf.waitClose(); code != 1007 {
		t.Fatalf("invalid UTF-8 closed with %d, want 1007", code)
	}
	// The server counts a close when its read loop ends, which may trail the
	// client's view by a moment: scrape until both are there.
	deadline := time.Now().Add(frameWait)
	for {
		_, samples := scrape(t, addr)
		got := map[string]float64{}
		for _, s := range samples {
			got[s.name] = s.value
		}
		if got[`troupe_connections_closed_total{code="1009"}`] == 1 && got[`troupe_connections_closed_total{code="1007"}`] == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("closes by code: 1009=%v 1007=%v, want 1 each", got[`troupe_connections_closed_total{code="1009"}`], got[`troupe_connections_closed_total{code="1007"}`])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAbandonedHelloSessionsExpire drops connections right after their hello,
// before the welcome can arrive: every session opened for them still expires
// after the grace period instead of staying attached to a dead connection.
func TestAbandonedHelloSessionsExpire(t *testing.T) {
	a := startServer(t, "--session-grace", "100ms")
	addr := a.Addr.String()
	for range 50 {
		h := rawUpgrade(t, addr, "troupe.v1")
		h.writeText(t, `{"type":"hello","id":1,"name":"gone"}`)
		h.conn.Close()
	}
	deadline := time.Now().Add(frameWait)
	for {
		_, samples := scrape(t, addr)
		active := sample(t, samples, "troupe_sessions_active")
		conns := sample(t, samples, "troupe_connections_active")
		if active == 0 && conns == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v sessions and %v connections still active after the grace period", active, conns)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// closeFrameCode reads frames until a close frame and returns its code.
func (h *handshake) closeFrameCode(t *testing.T) int {
	t.Helper()
	for {
		op, p := h.readFrame(t)
		if op == 0x8 {
			if len(p) < 2 {
				return 1005
			}
			return int(binary.BigEndian.Uint16(p))
		}
	}
}

// TestConnectionLimits refuses connections past --max-conns and
// --max-conns-per-ip with close 1013, counts the refusals, and admits again
// once a connection has gone.
func TestConnectionLimits(t *testing.T) {
	a := startServer(t, "--max-conns", "3", "--max-conns-per-ip", "2")
	addr := a.Addr.String()
	first := rawUpgradeFrom(t, "127.0.0.1", addr, "troupe.v1")
	first.helloOverRaw(t)
	second := rawUpgradeFrom(t, "127.0.0.1", addr, "troupe.v1")
	second.helloOverRaw(t)

	perIP := rawUpgradeFrom(t, "127.0.0.1", addr, "troupe.v1")
	if perIP.resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("refused upgrade answered %s, want 101 then a 1013 close", perIP.resp.Status)
	}
	if code := perIP.closeFrameCode(t); code != 1013 {
		t.Fatalf("third connection from one IP closed with %d, want 1013", code)
	}
	other := rawUpgradeFrom(t, "127.0.0.2", addr, "troupe.v1")
	other.helloOverRaw(t)
	total := rawUpgradeFrom(t, "127.0.0.3", addr, "troupe.v1")
	if code := total.closeFrameCode(t); code != 1013 {
		t.Fatalf("fourth connection closed with %d, want 1013", code)
	}

	first.conn.Close()
	// The slot comes back when the server sees the close; until then a new
	// connection is refused, so try until one is admitted.
	deadline := time.Now().Add(frameWait)
	for {
		h := rawUpgradeFrom(t, "127.0.0.1", addr, "troupe.v1")
		h.writeText(t, `{"type":"hello","id":7,"name":"raw"}`)
		if op, _ := h.readFrame(t); op == 0x1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no connection admitted after one closed")
		}
		h.conn.Close()
	}
	_, samples := scrape(t, addr)
	if n := sample(t, samples, `troupe_limit_rejections_total{limit="max_conns_per_ip"}`); n < 1 {
		t.Errorf("max_conns_per_ip rejections = %v", n)
	}
	if n := sample(t, samples, `troupe_limit_rejections_total{limit="max_conns"}`); n < 1 {
		t.Errorf("max_conns rejections = %v", n)
	}
	if n := sample(t, samples, `troupe_connections_closed_total{code="1013"}`); n < 2 {
		t.Errorf("1013 closes = %v, want at least 2", n)
	}
}

// TestSlowLorisIsCut sends half a request head and nothing more: the server
// drops the connection at --read-header-timeout, and keeps serving others.
func TestSlowLorisIsCut(t *testing.T) {
	a := startServer(t, "--read-header-timeout", "200ms")
	addr := a.Addr.String()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte("GET /ws HTTP/1.1\r\nHost: x\r\nX-Slow: ")); err != nil {
		t.Fatal(err)
	}
	// Well under the 5s default, so the flag is what cut it.
	if err := c.SetReadDeadline(time.Now().Add(3 * time.Second)); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("the server kept a half-sent request open: %v", err)
	}
	if len(b) > 0 && !strings.HasPrefix(string(b), "HTTP/1.1 408") {
		t.Fatalf("answered %q to a half-sent request", b)
	}
	ok := mustDial(t, addr)
	ok.hello("after-loris")
}

// TestProfilerOnItsOwnListener serves pprof only where --pprof-addr says,
// never on the public listener.
func TestProfilerOnItsOwnListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pprofAddr := ln.Addr().String()
	ln.Close()
	a := startServer(t, "--pprof-addr", pprofAddr)
	if code, _, body := httpGet(t, pprofAddr, "/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Fatalf("profiler: %d %.80q", code, body)
	}
	if code, _, _ := httpGet(t, a.Addr.String(), "/debug/pprof/"); code != http.StatusNotFound {
		t.Fatalf("the public listener serves the profiler: %d", code)
	}
}
