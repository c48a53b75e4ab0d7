package transport

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/metrics"
)

// socket is one WebSocket connection as the actors see it (actors.Peer): a
// bounded outbound queue drained by a writer goroutine that exists only while
// there is something to write, a close handshake, and the time of the last
// inbound frame.
type socket struct {
	conn         *gws.Conn        // static
	cork         *corkConn        // static: conn's net.Conn; nil in tests without one
	limit        int              // static: outbox capacity in frames
	writeTimeout time.Duration    // static
	closeLinger  time.Duration    // static: how long to wait for the client's close frame
	metrics      *metrics.Metrics // static
	clock        actors.Clock     // static: the engine's clock, for LastActive
	lastActive   atomic.Int64     // Unix nanoseconds of the last inbound frame
	pingWritten  atomic.Int64     // real-time Unix nanoseconds the last ping went out, 0 once its pong came
	deflate      *deflateCache    // static: set when the connection negotiated permessage-deflate
	deflateMin   int              // static: smallest frame sent deflated

	mu          sync.Mutex
	queue       [][]byte // guarded by mu
	writingN    int      // guarded by mu: frames the writer took and has not finished writing
	spare       [][]byte // guarded by mu: the previous queue's backing array, reused
	ping        bool     // guarded by mu: a ping is due
	writing     bool     // guarded by mu: a writer goroutine runs
	closing     bool     // guarded by mu: Close was called; nothing more is queued
	closeCode   int      // guarded by mu
	closeReason string   // guarded by mu
	closeSent   bool     // guarded by mu
	// latest maps the key of each coalescable frame (OfferLatest) still in
	// queue to its index there; it empties whenever the writer takes the
	// queue. Guarded by mu; nil until the first OfferLatest.
	latest map[string]int
	// held keeps, per key, the latest coalescable frame that found the
	// queue over half full; the writer takes them with the queue. Guarded
	// by mu; nil until needed.
	held    map[string][]byte
	writers *sync.WaitGroup
	flusher *flusher // static: writes queued frames without blocking; nil: a goroutine per burst

	// pending holds the unwritten tail of a flush the kernel took only part
	// of; the blocking writer sends it first. Owned by the socket's current
	// writer (one at a time: writing is set).
	pending []byte
}

var _ actors.Peer = (*socket)(nil)

// Enqueue implements actors.Outbox. It never blocks; past the bound the
// connection is closed with 4001.
func (s *socket) Enqueue(frame []byte) bool {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return false
	}
	if len(s.queue)+s.writingN >= s.limit {
		s.mu.Unlock()
		s.metrics.SlowConsumerCloses.Inc()
		s.metrics.Drops.WithLabelValues("slow_consumer").Inc()
		s.Close(actors.CloseSlowConsumer, "slow consumer")
		return false
	}
	s.queue = append(s.queue, frame)
	depth := len(s.queue) + s.writingN
	s.startWriter()
	s.mu.Unlock()
	if depth&63 == 1 {
		s.metrics.OutboxDepth.Observe(float64(depth))
	}
	return true
}

// Offer implements actors.Outbox: an ephemeral frame is queued only while
// the queue is under half its bound, and dropped (counted) otherwise.
func (s *socket) Offer(frame []byte) bool {
	s.mu.Lock()
	if s.closing || len(s.queue)+s.writingN >= max(s.limit/2, 1) {
		closing := s.closing
		s.mu.Unlock()
		if !closing {
			s.metrics.Drops.WithLabelValues("ephemeral").Inc()
		}
		return false
	}
	s.queue = append(s.queue, frame)
	s.startWriter()
	s.mu.Unlock()
	return true
}

// OfferLatest implements actors.Outbox: a frame whose key is already
// queued, not yet taken by the writer, replaces that one in place (counted
// as a drop, reason "coalesced"). A frame of a key not queued is queued
// while the queue is under half its bound; past that it is held aside, one
// per key (the latest), and queued as the writer next takes the queue, so
// the latest value of every key still arrives. Only when as many keys as
// half the bound are held is a frame dropped (reason "ephemeral"). A
// consumer that falls behind therefore holds at most one frame per key,
// however fast they come, and is never closed for them.
func (s *socket) OfferLatest(key string, frame []byte) bool {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return false
	}
	if i, ok := s.latest[key]; ok {
		s.queue[i] = frame
		s.mu.Unlock()
		s.metrics.Drops.WithLabelValues("coalesced").Inc()
		return true
	}
	half := max(s.limit/2, 1)
	if len(s.queue)+s.writingN >= half {
		_, replaced := s.held[key]
		if !replaced && len(s.held) >= half {
			s.mu.Unlock()
			s.metrics.Drops.WithLabelValues("ephemeral").Inc()
			return false
		}
		if s.held == nil {
			s.held = make(map[string][]byte)
		}
		s.held[key] = frame
		s.startWriter()
		s.mu.Unlock()
		if replaced {
			s.metrics.Drops.WithLabelValues("coalesced").Inc()
		}
		return true
	}
	if s.latest == nil {
		s.latest = make(map[string]int)
	}
	s.latest[key] = len(s.queue)
	s.queue = append(s.queue, frame)
	s.startWriter()
	s.mu.Unlock()
	return true
}

// queued is how many frames the writer would take now. Called with mu held.
func (s *socket) queued() int { return len(s.queue) + len(s.held) }

// takeQueue hands the queued frames, and the held ones after them, to the
// writer: the coalescing index no longer applies to them. Called with mu
// held.
func (s *socket) takeQueue() [][]byte {
	frames := s.queue
	for _, f := range s.held {
		frames = append(frames, f)
	}
	s.queue, s.spare = s.spare[:0], nil
	if len(s.latest) > 0 {
		clear(s.latest)
	}
	if len(s.held) > 0 {
		clear(s.held)
	}
	return frames
}

// dropQueue forgets every queued and held frame. Called with mu held.
func (s *socket) dropQueue() {
	s.queue = nil
	clear(s.latest)
	clear(s.held)
}

// Ping implements actors.Peer.
func (s *socket) Ping() {
	s.mu.Lock()
	if !s.closing {
		s.ping = true
		s.startWriter()
	}
	s.mu.Unlock()
}

// Close implements actors.Peer: queued frames are flushed (dropped on 4001),
// then the close frame is sent, and the client gets closeLinger to answer it
// before the socket is cut.
func (s *socket) Close(code int, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	s.closing = true
	s.closeCode = code
	s.closeReason = reason
	if code == actors.CloseSlowConsumer {
		s.dropQueue()
	}
	s.startWriter()
}

// ponged observes the heartbeat round trip when a pong answers the ping the
// socket wrote last (an unsolicited pong, or a second one, is not counted).
func (s *socket) ponged() {
	if sent := s.pingWritten.Swap(0); sent != 0 {
		s.metrics.HeartbeatRTT.Observe(float64(time.Now().UnixNano()-sent) / 1e9)
	}
}

// LastActive implements actors.Peer.
func (s *socket) LastActive() time.Time { return time.Unix(0, s.lastActive.Load()) }

func (s *socket) touch() { s.lastActive.Store(s.clock.Now().UnixNano()) }

// isClosing reports whether the server started closing this connection, after
// which the client's frames are no longer handled.
func (s *socket) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// sentCode returns the close code the server sent, 0 if none.
func (s *socket) sentCode() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closeSent {
		return s.closeCode
	}
	return 0
}

// startWriter starts a writer if none runs: the socket's flusher, or a
// goroutine of its own for the close handshake. Called with mu held.
func (s *socket) startWriter() {
	if s.writing || s.closeSent {
		return
	}
	s.writing = true
	s.writers.Add(1)
	if s.flusher != nil && !s.closing {
		s.flusher.schedule(s)
		return
	}
	go s.write()
}

// maxFlushFrames bounds the frames one flush writes; a longer queue means
// the client is behind, and the blocking writer takes over.
const maxFlushFrames = (maxIovecs - 1) / 2

// flush writes what is queued with one non-blocking writev, on a flusher
// goroutine. Whatever the kernel does not take at once, and the close
// handshake, go to a blocking writer goroutine.
func (s *socket) flush(scratch *flushScratch) {
	s.mu.Lock()
	n := s.queued()
	if (n == 0 && !s.ping) || s.closing || n > maxFlushFrames {
		if n == 0 && !s.ping && !s.closing {
			s.writing = false
			s.mu.Unlock()
			s.writers.Done()
			return
		}
		s.mu.Unlock()
		go s.write()
		return
	}
	frames := s.takeQueue()
	s.writingN = len(frames)
	ping := s.ping
	s.ping = false
	s.mu.Unlock()

	iov, total := scratch.build(frames, ping, s.deflate, s.deflateMin)
	if scratch.deflatedIn > 0 {
		s.metrics.DeflatedIn.Add(float64(scratch.deflatedIn))
		s.metrics.DeflatedOut.Add(float64(scratch.deflatedOut))
	}
	if ping {
		s.pingWritten.Store(time.Now().UnixNano())
	}
	s.metrics.BytesOut.Add(float64(total)) // what is not written now is by the blocking writer, or the socket is cut
	n, err := s.cork.writeNow(iov)
	if err != nil && !errors.Is(err, errWouldBlock) {
		scratch.reset()
		s.abort()
		s.writers.Done()
		return
	}
	if n < total {
		s.pending = tail(iov, n)
	}
	scratch.reset()
	for i := range frames {
		frames[i] = nil
	}
	s.mu.Lock()
	s.spare = frames[:0]
	if s.pending != nil {
		s.mu.Unlock()
		go s.write() // the kernel's buffer is full: wait for it with the write timeout
		return
	}
	s.writingN = 0
	switch {
	case s.closing:
		go s.write()
	case s.queued() > 0 || s.ping:
		s.flusher.schedule(s)
	default:
		s.writing = false
		s.mu.Unlock()
		s.writers.Done()
		return
	}
	s.mu.Unlock()
}

// flushScratch is a flusher's reusable iovec and header space.
type flushScratch struct {
	iov     [][]byte
	headers []byte
	// The frames of the last build sent deflated: their bytes before and
	// after deflating.
	deflatedIn, deflatedOut int
}

// build returns the iovecs of ping (if set) and frames as text frames, and
// their total length. With d set (the connection negotiated
// permessage-deflate), frames of at least min bytes go out deflated, RSV1 set,
// each deflated once for all connections (see deflateCache).
func (sc *flushScratch) build(frames [][]byte, ping bool, d *deflateCache, min int) ([][]byte, int) {
	if sc.headers == nil {
		// Never reallocated below: iovecs point into it.
		sc.headers = make([]byte, 0, (maxFlushFrames+1)*10)
	}
	total := 0
	if ping {
		sc.headers = append(sc.headers, 0x89, 0)
		sc.iov = append(sc.iov, sc.headers[:2])
		total += 2
	}
	for _, f := range frames {
		op := byte(0x1) // text
		if d != nil && len(f) >= min {
			sc.deflatedIn += len(f)
			f = d.get(f)
			sc.deflatedOut += len(f)
			op |= 0x40 // RSV1: a compressed message (RFC 7692 §6)
		}
		start := len(sc.headers)
		sc.headers = frameHeader(sc.headers, op, len(f))
		sc.iov = append(sc.iov, sc.headers[start:len(sc.headers):len(sc.headers)], f)
		total += len(sc.headers) - start + len(f)
	}
	return sc.iov, total
}

func (sc *flushScratch) reset() {
	clear(sc.iov)
	sc.iov = sc.iov[:0]
	sc.headers = sc.headers[:0]
	sc.deflatedIn, sc.deflatedOut = 0, 0
}

// tail copies what follows the first n bytes of bufs.
func tail(bufs [][]byte, n int) []byte {
	var out []byte
	for _, b := range bufs {
		if n >= len(b) {
			n -= len(b)
			continue
		}
		out = append(out, b[n:]...)
		n = 0
	}
	return out
}

// write drains the queue until it is empty, then exits.
func (s *socket) write() {
	defer s.writers.Done()
	if p := s.pending; p != nil {
		s.pending = nil
		if err := s.conn.SetWriteDeadline(time.Now().Add(s.writeTimeout)); err != nil {
			s.abort()
			return
		}
		if _, err := s.cork.Write(p); err != nil {
			s.abort()
			return
		}
		s.mu.Lock()
		s.writingN = 0
		s.mu.Unlock()
	}
	for {
		s.mu.Lock()
		frames := s.takeQueue() // the writer owns frames until it hands them back as spare
		s.writingN = len(frames)
		ping := s.ping
		s.ping = false
		closeNow := len(frames) == 0 && !ping && s.closing && !s.closeSent
		if len(frames) == 0 && !ping && !closeNow {
			s.writing = false
			s.mu.Unlock()
			return
		}
		if closeNow {
			s.closeSent = true
		}
		code, reason := s.closeCode, s.closeReason
		s.mu.Unlock()

		if closeNow {
			s.sendClose(code, reason)
			s.mu.Lock()
			s.writing = false
			s.mu.Unlock()
			return
		}
		ok := true
		corked := s.cork != nil && len(frames)+btoi(ping) > 1
		if corked {
			s.cork.cork()
		}
		if ping {
			s.pingWritten.Store(time.Now().UnixNano())
			ok = s.writeFrame(gws.OpcodePing, nil)
		}
		for i, f := range frames {
			if ok {
				ok = s.writeText(f)
			}
			frames[i] = nil
		}
		if corked {
			if err := s.cork.uncork(); err != nil {
				ok = false
			}
		}
		s.mu.Lock()
		s.spare = frames[:0]
		s.writingN = 0
		s.mu.Unlock()
		if !ok {
			s.abort()
			return
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// writeText writes one queued frame: deflated through the shared cache, as
// the flushers send it, when the connection negotiated compression, and
// through gws otherwise.
func (s *socket) writeText(f []byte) bool {
	if s.deflate == nil || len(f) < s.deflateMin || s.cork == nil {
		return s.writeFrame(gws.OpcodeText, f)
	}
	d := s.deflate.get(f)
	frame := append(frameHeader(make([]byte, 0, 10+len(d)), 0x41, len(d)), d...)
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.writeTimeout)); err != nil {
		return false
	}
	s.metrics.BytesOut.Add(float64(len(frame)))
	s.metrics.DeflatedIn.Add(float64(len(f)))
	s.metrics.DeflatedOut.Add(float64(len(d)))
	_, err := s.cork.Write(frame) // one write: corkConn keeps it whole against gws's own frames
	return err == nil
}

func (s *socket) writeFrame(op gws.Opcode, b []byte) bool {
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.writeTimeout)); err != nil {
		return false
	}
	s.metrics.BytesOut.Add(float64(headerLen(len(b)) + len(b)))
	return s.conn.WriteMessage(op, b) == nil
}

// sendClose writes the close frame and lets the read loop wait for the
// client's answer (RFC 6455 §7.1.1) until closeLinger has passed.
func (s *socket) sendClose(code int, reason string) {
	if len(reason) > 120 {
		reason = reason[:120]
	}
	payload := make([]byte, 2, 2+len(reason))
	binary.BigEndian.PutUint16(payload, uint16(code))
	payload = append(payload, reason...)
	cork, corked := s.conn.NetConn().(*corkConn)
	if corked {
		cork.sealAfterNextWrite()
	}
	if !s.writeFrame(gws.OpcodeCloseConnection, payload) {
		s.abort()
		return
	}
	// Nothing follows our close frame: the TCP connection is half-closed, so
	// the client reads it to the end and gws's echo of the client's
	// answering close frame is not sent as a second close frame. A corkConn
	// did that as it wrote the frame; other connections do it now.
	if hc, ok := s.conn.NetConn().(interface{ CloseWrite() error }); ok && !corked {
		_ = hc.CloseWrite() // best effort: without it the client just gets the echo
	}
	s.mu.Lock()
	err := s.conn.SetReadDeadline(time.Now().Add(s.closeLinger))
	s.mu.Unlock()
	if err != nil {
		s.abort()
	}
}

// extendRead pushes the read deadline to d from now, unless the connection is
// closing (then the close linger deadline stands).
func (s *socket) extendRead(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing {
		_ = s.conn.SetReadDeadline(time.Now().Add(d)) // fails only on a closed socket
	}
}

// abort cuts the TCP connection after a failed write; the read loop then ends.
func (s *socket) abort() {
	s.mu.Lock()
	s.closing = true
	s.closeSent = true
	s.writing = false
	s.dropQueue()
	s.mu.Unlock()
	_ = s.conn.NetConn().Close() // the socket is already broken; its error adds nothing
}
