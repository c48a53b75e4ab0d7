package transport

import (
	"bytes"
	"strings"
	"sync"
	"unsafe"

	"github.com/klauspost/compress/flate"
	"github.com/troupe-chat/troupe/transport/wire"
)

// deflateCache compresses broadcast frames once for every connection that
// negotiated permessage-deflate (RFC 7692). A room encodes a frame once and
// queues the same bytes to every member's outbox; the first compressed
// outbox to flush a frame deflates it, and the others find the result here,
// keyed by the frame's identity (the address of its first byte and its
// length). An entry keeps its frame alive, so while it is cached no other
// frame can take that address. Connections negotiate no context takeover,
// so one deflated payload serves them all. Entries are evicted oldest
// first; a frame flushed after its entry went is deflated again, which
// costs CPU, never correctness. Replies (which go to one connection) are
// deflated without being cached.
type deflateCache struct {
	level int
	max   int // entries kept

	mu      sync.Mutex
	entries map[frameKey]*deflated // guarded by mu
	order   []frameKey             // guarded by mu: insertion order, for eviction
	head    int                    // guarded by mu: order[:head] are evicted

	writers sync.Pool // *flate.Writer
}

// frameKey is a frame's identity: where its bytes start, and how many.
type frameKey struct {
	p *byte
	n int
}

// deflated is one cached frame and, once computed, its deflated payload.
type deflated struct {
	frame []byte // keeps the frame alive while cached
	once  sync.Once
	out   []byte
}

func newDeflateCache(level, max int) *deflateCache {
	return &deflateCache{level: level, max: max, entries: make(map[frameKey]*deflated, max)}
}

// get returns frame deflated for a permessage-deflate message: the DEFLATE
// stream of one sync-flushed block without its trailing 0x00 0x00 0xff
// 0xff. The result is shared and must not be modified.
func (c *deflateCache) get(frame []byte) []byte {
	if wire.IsReply(frame) {
		return c.deflate(frame) // one connection's: nothing to share, nothing to keep alive
	}
	key := frameKey{unsafe.SliceData(frame), len(frame)}
	c.mu.Lock()
	e := c.entries[key]
	if e == nil {
		e = &deflated{frame: frame}
		c.entries[key] = e
		c.order = append(c.order, key)
		c.evictLocked()
	}
	c.mu.Unlock()
	e.once.Do(func() { e.out = c.deflate(frame) })
	return e.out
}

// evictLocked drops the oldest entries beyond max. c.mu must be held.
func (c *deflateCache) evictLocked() {
	for len(c.order)-c.head > c.max {
		delete(c.entries, c.order[c.head])
		c.order[c.head] = frameKey{}
		c.head++
	}
	if c.head > 0 && c.head >= len(c.order)/2 {
		n := copy(c.order, c.order[c.head:])
		clear(c.order[n:])
		c.order = c.order[:n]
		c.head = 0
	}
}

// deflate compresses p as one permessage-deflate message.
func (c *deflateCache) deflate(p []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(p)/2 + 16)
	w, _ := c.writers.Get().(*flate.Writer)
	if w == nil {
		w, _ = flate.NewWriter(&buf, c.level) // the level is checked by Config.Validate
	} else {
		w.Reset(&buf)
	}
	_, _ = w.Write(p) // writes to a bytes.Buffer do not fail
	_ = w.Flush()
	c.writers.Put(w)
	out := buf.Bytes()
	if n := len(out); n >= 4 && out[n-4] == 0 && out[n-3] == 0 && out[n-2] == 0xff && out[n-1] == 0xff {
		out = out[:n-4]
	}
	return out
}

// deflateLevel is the DEFLATE level of compressed frames: the fastest, as
// chat frames are small and latency matters more than the last bytes.
const deflateLevel = flate.BestSpeed

// deflateCacheFrames bounds the deflated broadcasts kept for other outboxes
// to reuse.
const deflateCacheFrames = 1024

// deflatePoolSize is the number of gws's shared deflaters (a power of two),
// which inflate what clients send and deflate the few frames gws writes
// itself; each holds a compressor and a 32 KiB buffer.
const deflatePoolSize = 4

// offersDeflate reports whether an upgrade request offers permessage-deflate,
// judged exactly as gws judges it (the first Sec-WebSocket-Extensions
// header), so the socket's notion of the connection agrees with gws's.
func offersDeflate(r interface{ Get(string) string }) bool {
	return strings.Contains(r.Get("Sec-WebSocket-Extensions"), "permessage-deflate")
}
