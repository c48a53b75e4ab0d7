package app_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/flate"
)

// deflateClient is a WebSocket client written by hand over TCP that offers
// permessage-deflate, so a test sees the frames as they are on the wire:
// RSV1, and the deflated bytes.
type deflateClient struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
	resp *http.Response
	id   int
}

func dialDeflate(t *testing.T, addr, extensions string) *deflateClient {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(frameWait)); err != nil {
		t.Fatal(err)
	}
	req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + rfcKey + "\r\nSec-WebSocket-Version: 13\r\n"
	if extensions != "" {
		req += "Sec-WebSocket-Extensions: " + extensions + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	return &deflateClient{t: t, conn: conn, br: br, resp: resp}
}

// write sends one masked client frame; deflated sets RSV1 and deflates payload.
func (c *deflateClient) write(payload []byte, deflated bool) {
	c.t.Helper()
	head := byte(0x81)
	if deflated {
		payload = deflateMessage(c.t, payload)
		head |= 0x40
	}
	c.writeRaw(head, payload)
}

func (c *deflateClient) writeRaw(head byte, payload []byte) {
	c.t.Helper()
	frame := []byte{head}
	switch n := len(payload); {
	case n < 126:
		frame = append(frame, 0x80|byte(n))
	case n <= 0xffff:
		frame = append(frame, 0x80|126)
		frame = binary.BigEndian.AppendUint16(frame, uint16(n))
	default:
		frame = append(frame, 0x80|127)
		frame = binary.BigEndian.AppendUint64(frame, uint64(n))
	}
	mask := [4]byte{9, 8, 7, 6}
	frame = append(frame, mask[:]...)
	for i, b := range payload {
		frame = append(frame, b^mask[i%4])
	}
	if _, err := c.conn.Write(frame); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read returns the next server frame: its first header byte and its
// payload, inflated when RSV1 is set.
func (c *deflateClient) read() (byte, []byte) {
	c.t.Helper()
	var head [2]byte
	if _, err := io.ReadFull(c.br, head[:]); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	n := uint64(head[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		_, _ = io.ReadFull(c.br, ext[:])
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		_, _ = io.ReadFull(c.br, ext[:])
		n = binary.BigEndian.Uint64(ext[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		c.t.Fatalf("read payload: %v", err)
	}
	if head[0]&0x40 != 0 {
		r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff})))
		out, err := io.ReadAll(r)
		if err != nil && err != io.ErrUnexpectedEOF {
			c.t.Fatalf("inflate a server frame: %v", err)
		}
		p = out
	}
	return head[0], p
}

// request sends v (deflated or not) with a fresh id and returns the reply
// with that id, skipping pushes; head is the reply frame's first byte.
func (c *deflateClient) request(v map[string]any, deflated bool) (byte, map[string]any) {
	c.t.Helper()
	c.id++
	v["id"] = c.id
	b, _ := json.Marshal(v)
	c.write(b, deflated)
	for {
		head, p := c.read()
		var f map[string]any
		if head&0x0f == 0x8 {
			c.t.Fatalf("closed (%x) while waiting for reply %d", p, c.id)
		}
		if json.Unmarshal(p, &f) == nil && f["id"] == float64(c.id) {
			return head, f
		}
	}
}

// closeCode waits for the server's close frame and returns its code.
func (c *deflateClient) closeCode() int {
	c.t.Helper()
	for {
		head, p := c.read()
		if head&0x0f == 0x8 {
			if len(p) < 2 {
				return 1005
			}
			return int(binary.BigEndian.Uint16(p))
		}
	}
}

func deflateMessage(t *testing.T, p []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	_, _ = w.Write(p)
	_ = w.Flush()
	return bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// TestCompression: a client that offers permessage-deflate gets it without
// context takeover; frames from --compression-min-bytes up reach it
// deflated (RSV1) while a client that did not offer it gets the same
// broadcast plain; the server inflates what compressed clients send; a
// deflate bomb is closed with 1009 and malformed deflate data with an error
// close, leaving the server and the room unharmed; with --compression=false
// nothing is negotiated.
func TestCompression(t *testing.T) {
	a := startServer(t, "--rate-limit", "0")
	addr := a.Addr.String()
	z := dialDeflate(t, addr, "permessage-deflate; client_max_window_bits")
	ext := z.resp.Header.Get("Sec-WebSocket-Extensions")
	if !strings.Contains(ext, "permessage-deflate") || !strings.Contains(ext, "server_no_context_takeover") || !strings.Contains(ext, "client_no_context_takeover") {
		t.Fatalf("negotiated %q, want permessage-deflate without context takeover", ext)
	}
	if _, w := z.request(map[string]any{"type": "hello", "name": "zed"}, false); w["type"] != "welcome" {
		t.Fatalf("welcome = %v", w)
	}
	if head, p := z.request(map[string]any{"type": "ping"}, false); p["type"] != "pong" || head != 0x81 {
		t.Fatalf("pong = %#x %v, want a plain frame (under --compression-min-bytes)", head, p)
	}
	if _, j := z.request(map[string]any{"type": "join", "room": "z"}, true); j["type"] != "joined" {
		t.Fatalf("join sent deflated: %v", j)
	}
	plain, sender := mustDial(t, addr), mustDial(t, addr)
	plain.hello("plain")
	sender.hello("sender")
	for _, c := range []*rawClient{plain, sender} {
		c.request(map[string]any{"type": "join", "room": "z"})
	}
	long := strings.Repeat("troupe compresses broadcasts once. ", 40)
	if f := sender.request(map[string]any{"type": "send", "room": "z", "text": long}); f["type"] != "ack" {
		t.Fatalf("send: %v", f)
	}
	for {
		head, p := z.read()
		var f map[string]any
		if json.Unmarshal(p, &f) != nil || f["type"] != "message" {
			continue
		}
		if head != 0xC1 || f["msg"].(map[string]any)["text"] != long {
			t.Fatalf("broadcast to the compressed client = %#x %v, want RSV1 and the text", head, f)
		}
		break
	}
	if m := plain.nextOfType("message"); m["msg"].(map[string]any)["text"] != long {
		t.Fatalf("the plain client got %v", m) // gws would have failed it on a compressed frame
	}
	_, samples := scrape(t, addr)
	in, out := sample(t, samples, "troupe_deflate_input_bytes_total"), sample(t, samples, "troupe_deflate_output_bytes_total")
	if in < float64(len(long)) || out <= 0 || out >= in/4 {
		t.Fatalf("deflated %v bytes into %v, want a repetitive text to shrink at least 4×", in, out)
	}

	// Bombs: 512 KiB of zeros inflate from about 500 bytes, past
	// --max-frame-bytes: 1009. One of 8 MiB is stopped by gws as it inflates,
	// past the headroom it is given (1011). The server stays up either way.
	for _, tc := range []struct {
		size  int
		codes []int
	}{{512 << 10, []int{1009}}, {8 << 20, []int{1009, 1011}}} {
		bomb := dialDeflate(t, addr, "permessage-deflate")
		bomb.request(map[string]any{"type": "hello", "name": "bomb"}, false)
		bomb.write(append([]byte(`{"type":"send","room":"z","text":"`), make([]byte, tc.size)...), true)
		if code := bomb.closeCode(); !slices.Contains(tc.codes, code) {
			t.Fatalf("a deflate bomb of %d bytes closed with %d, want one of %v", tc.size, code, tc.codes)
		}
	}
	garbage := dialDeflate(t, addr, "permessage-deflate")
	garbage.request(map[string]any{"type": "hello", "name": "garbage"}, false)
	garbage.writeRaw(0xC1, []byte{0xff, 0xfe, 0xfd, 0xfc, 0xfb})
	if code := garbage.closeCode(); code < 1002 || code > 1011 {
		t.Fatalf("malformed deflate data closed with %d, want an error close", code)
	}
	if f := sender.request(map[string]any{"type": "send", "room": "z", "text": "still here"}); f["type"] != "ack" {
		t.Fatalf("send after the bombs: %v", f)
	}
	if _, f := z.request(map[string]any{"type": "send", "room": "z", "text": long, "cid": "z1"}, true); f["type"] != "ack" {
		t.Fatalf("a deflated send: %v", f)
	}

	off := startServer(t, "--compression=false")
	n := dialDeflate(t, off.Addr.String(), "permessage-deflate")
	if ext := n.resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Fatalf("--compression=false negotiated %q", ext)
	}
	n.request(map[string]any{"type": "hello", "name": "n"}, false)
	n.write([]byte(`{"type":"ping","id":9}`), true)
	if code := n.closeCode(); code != 1002 {
		t.Fatalf("a compressed frame on a connection without the extension closed with %d, want 1002", code)
	}
}
