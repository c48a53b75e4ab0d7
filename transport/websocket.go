package transport

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/lxzan/gws"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/transport/wire"
)

// readBufferSize is each connection's read buffer. Client frames are small
// (a send is ~200 bytes); a frame larger than the buffer is read straight
// into its payload buffer, so only the header costs an extra call. 512 bytes
// instead of gws's 4 KiB saves 3.5 KiB per idle connection.
const readBufferSize = 512

// sessionKey is the gws session storage key of a connection's state.
const sessionKey = "troupe"

// wsConn is what the gws event handler keeps per connection.
type wsConn struct {
	sock   *socket
	handle *actors.ConnHandle
	ip     string // the client IP its admission slot is counted under
	opened time.Time
}

// wsHandler adapts gws events to the connection actor: the read goroutine
// decodes and validates each frame once, then posts the typed command.
type wsHandler struct {
	srv *Server
}

var _ gws.Event = (*wsHandler)(nil)

func connOf(c *gws.Conn) *wsConn {
	v, ok := c.Session().Load(sessionKey)
	if !ok {
		return nil
	}
	return v.(*wsConn)
}

// OnOpen implements gws.Event.
func (h *wsHandler) OnOpen(*gws.Conn) {}

// OnClose implements gws.Event.
func (h *wsHandler) OnClose(c *gws.Conn, err error) {
	wc := connOf(c)
	if wc == nil {
		return
	}
	code := wc.sock.sentCode()
	if code == 0 {
		var ce *gws.CloseError
		var status interface{ Uint16() uint16 } // gws's close codes for read faults (1002, 1009, …)
		switch {
		case errors.As(err, &ce):
			code = int(ce.Code)
		case errors.Is(err, gws.ErrTextEncoding):
			code = actors.CloseInvalidUTF8
		case errors.As(err, &status):
			code = int(status.Uint16())
		default:
			code = actors.CloseAbnormal
		}
	}
	wc.handle.Closed(code)
	h.srv.connClosed(wc, code)
}

// OnPing implements gws.Event.
func (h *wsHandler) OnPing(c *gws.Conn, payload []byte) {
	wc := connOf(c)
	if wc != nil {
		h.srv.alive(c, wc)
		if wc.sock.sentCode() != 0 {
			return // our close frame is out: nothing may follow it
		}
	}
	_ = c.WritePong(payload) // a failed write ends the read loop by itself
}

// OnPong implements gws.Event.
func (h *wsHandler) OnPong(c *gws.Conn, _ []byte) {
	if wc := connOf(c); wc != nil {
		h.srv.alive(c, wc)
		wc.sock.ponged()
	}
}

// OnMessage implements gws.Event.
func (h *wsHandler) OnMessage(c *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	wc := connOf(c)
	if wc == nil || wc.sock.isClosing() {
		return
	}
	h.srv.alive(c, wc)
	h.srv.metrics.BytesIn.Add(float64(len(msg.Bytes())))
	if len(msg.Bytes()) > h.srv.protocol.MaxFrameBytes {
		// Read whole (or inflated) within gws's headroom: too big all the same.
		wc.sock.Close(actors.CloseTooBig, "message too big")
		return
	}
	var cmd actors.Command
	if msg.Opcode != gws.OpcodeText {
		h.srv.metrics.FramesIn.WithLabelValues("binary").Inc()
		cmd = actors.Rejected{Code: actors.CodeBadFrame, Message: "binary frames are not supported; send JSON in text frames"}
	} else {
		cmd = wire.Decode(msg.Bytes(), h.srv.limits)
		h.srv.metrics.FramesIn.WithLabelValues(cmd.CommandType()).Inc()
	}
	wc.handle.Post(cmd)
}

// refuseAtLimit completes the upgrade only to close it with 1013 (../PROTOCOL.md
// "Close codes"), so browser clients, which never see an HTTP status, learn to
// retry later. Like every close it then reads what the client sends until
// the client closes or the close linger passes: a client that wrote its
// hello (and joins pipelined behind it) before it read the close frame must
// not get a TCP reset for them, which would lose the 1013 to a 1006.
func (s *Server) refuseAtLimit(w http.ResponseWriter, r *http.Request, limit string) {
	s.metrics.UpgradesRejected.WithLabelValues(limit).Inc()
	s.metrics.LimitRejections.WithLabelValues(limit).Inc()
	c, err := s.upgraderFor(r).Upgrade(w, r)
	if err != nil {
		return // the handshake failed; gws has answered it
	}
	s.metrics.CloseCode(actors.CloseTryAgainLater)
	reason := "server at its connection limit; retry later"
	payload := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), actors.CloseTryAgainLater)
	nc := c.NetConn()
	if err := c.WriteMessage(gws.OpcodeCloseConnection, append(payload, reason...)); err != nil {
		_ = nc.Close() // gone already
		return
	}
	if hc, ok := nc.(interface{ CloseWrite() error }); ok {
		_ = hc.CloseWrite() // best effort: the client reads the close frame to the end
	}
	// The handler's goroutine (net/http's, hijacked) lingers, bounded by the deadline.
	if err := nc.SetReadDeadline(time.Now().Add(s.cfg.CloseLinger)); err == nil {
		_, _ = io.Copy(io.Discard, nc) // ends at the client's close or the deadline
	}
	_ = nc.Close()
}

// upgradeCorkable hijacks the connection and upgrades it over a corkConn,
// so the outbox writer can send a batch of frames in one write. (gws's own
// Upgrade also drops what the HTTP server had buffered beyond the request;
// here that is kept.)
func (s *Server) upgradeCorkable(w http.ResponseWriter, r *http.Request) (*gws.Conn, *corkConn, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("transport: the response cannot be hijacked")
	}
	netConn, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("transport: hijack: %w", err)
	}
	cork := newCorkConn(netConn)
	br := brw.Reader
	if br.Buffered() == 0 {
		// Nothing read ahead: a small reader over the cork (the HTTP
		// server's 4 KiB one would stay with the connection for its life).
		br = bufio.NewReaderSize(cork, readBufferSize)
	} else {
		br.Reset(io.MultiReader(bytes.NewReader(peekAll(br)), cork))
	}
	c, err := s.upgraderFor(r).UpgradeFromConn(cork, br, r)
	if err != nil {
		return nil, nil, err
	}
	return c, cork, nil
}

// peekAll returns a copy of what br holds buffered.
func peekAll(br *bufio.Reader) []byte {
	b, _ := br.Peek(br.Buffered()) // Peek of what is buffered cannot fail
	return bytes.Clone(b)
}

// upgraderFor picks the upgrader that echoes troupe.v1 when the client offers it.
func (s *Server) upgraderFor(r *http.Request) *gws.Upgrader {
	if !offersSubprotocol(r, wire.Subprotocol) {
		return s.plainUpgrader
	}
	// gws reads only the first header line; RFC 6455 §11.3.4 allows several.
	r.Header.Set("Sec-WebSocket-Protocol", strings.Join(r.Header.Values("Sec-WebSocket-Protocol"), ","))
	return s.troupeUpgrader
}

// upgrade authenticates an upgrade request, then hands the socket to gws and
// the engine.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request) {
	if !headerHas(r, "Upgrade", "websocket") || !headerHas(r, "Connection", "upgrade") || r.Header.Get("Sec-WebSocket-Key") == "" {
		// Refused before hijacking, so net/http writes a proper response.
		s.metrics.UpgradesRejected.WithLabelValues("handshake").Inc()
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "a WebSocket upgrade is required", http.StatusUpgradeRequired)
		return
	}
	if !s.origins.allows(r.Header.Get("Origin")) {
		s.metrics.UpgradesRejected.WithLabelValues("origin").Inc()
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	// Registering the read loop before hijacking, under mu, lets Shutdown wait
	// for every connection it did not refuse.
	ip := s.proxies.clientIP(r)
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		s.metrics.UpgradesRejected.WithLabelValues("draining").Inc()
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	if limit := s.admitted.admit(ip); limit != "" {
		s.mu.Unlock()
		s.refuseAtLimit(w, r, limit)
		return
	}
	s.readers.Add(1)
	s.mu.Unlock()
	started := false
	defer func() {
		if !started {
			s.mu.Lock()
			s.admitted.release(ip)
			s.mu.Unlock()
			s.readers.Done()
		}
	}()
	var claims *actors.Claims
	if tok := r.URL.Query().Get("token"); tok != "" {
		if s.verifier == nil {
			s.metrics.UpgradesRejected.WithLabelValues("unauthorized").Inc()
			http.Error(w, "this server accepts no tokens", http.StatusUnauthorized)
			return
		}
		cl, err := s.verifier.Verify(tok)
		if err != nil {
			s.metrics.UpgradesRejected.WithLabelValues("unauthorized").Inc()
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		claims = &cl
	}
	c, cork, err := s.upgradeCorkable(w, r)
	if err != nil {
		s.metrics.UpgradesRejected.WithLabelValues("handshake").Inc()
		s.log.Debug("upgrade failed", "err", err)
		return
	}
	sock := &socket{
		conn: c, cork: cork, limit: s.cfg.OutboxSize, writeTimeout: s.cfg.WriteTimeout,
		closeLinger: s.cfg.CloseLinger, metrics: s.metrics, clock: s.clock, writers: &s.writers,
	}
	if cork.raw != nil {
		sock.flusher = s.flushers.pick()
	}
	if s.deflate != nil && offersDeflate(r.Header) {
		sock.deflate, sock.deflateMin = s.deflate, s.cfg.CompressionMinBytes
	}
	sock.touch()
	handle, err := s.engine.Connect(sock, actors.ConnInfo{RemoteIP: ip, QueryClaims: claims, Opened: time.Now()})
	if err != nil {
		_ = c.WriteClose(actors.CloseGoingAway, []byte("server shutting down")) // the socket is dropped either way
		return
	}
	wc := &wsConn{sock: sock, handle: handle, ip: ip, opened: time.Now()}
	c.Session().Store(sessionKey, wc)
	s.connOpened(wc)
	_ = c.SetReadDeadline(time.Now().Add(s.protocol.HelloTimeout + s.protocol.HeartbeatInterval))
	started = true
	go func() {
		defer s.readers.Done()
		c.ReadLoop()
	}()
}

// alive records inbound activity and pushes the read deadline (the safety net
// for dead TCP peers) forward.
func (s *Server) alive(c *gws.Conn, wc *wsConn) {
	wc.sock.touch()
	wc.sock.extendRead(s.protocol.IdleTimeout + s.protocol.HeartbeatInterval)
}

func offersSubprotocol(r *http.Request, want string) bool {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if strings.TrimSpace(p) == want {
				return true
			}
		}
	}
	return false
}

// headerHas reports whether a comma-separated header holds token (case-insensitive).
func headerHas(r *http.Request, name, token string) bool {
	for _, h := range r.Header.Values(name) {
		for _, p := range strings.Split(h, ",") {
			if strings.EqualFold(strings.TrimSpace(p), token) {
				return true
			}
		}
	}
	return false
}
