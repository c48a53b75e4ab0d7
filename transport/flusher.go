package transport

import (
	"encoding/binary"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
)

// flushers write queued frames for many sockets on a few goroutines, with
// non-blocking vectored writes: a delivery costs one writev and no goroutine
// of its own. A socket whose kernel buffer is full (EAGAIN, a partial write)
// is handed to its own blocking writer goroutine, which waits with the write
// timeout: a slow client never holds up a flusher.
//
// A flusher goroutine exists only while its ready list is not empty, so an
// idle server runs none; under load each stays busy and spawns nothing.
type flushers struct {
	shards []flusher
	next   atomic.Uint32
}

// flusher is one shard: sockets waiting to be flushed, and whether a
// goroutine is draining them.
type flusher struct {
	mu      sync.Mutex
	ready   []*socket    // guarded by mu
	running bool         // guarded by mu
	scratch flushScratch // owned by the running goroutine
	_       [64]byte     // keep shards on separate cache lines
}

func newFlushers() *flushers {
	return &flushers{shards: make([]flusher, runtime.GOMAXPROCS(0))}
}

// pick assigns a new socket its shard, round-robin.
func (f *flushers) pick() *flusher {
	return &f.shards[int(f.next.Add(1))%len(f.shards)]
}

// schedule queues s to be flushed; s is not queued anywhere else (its
// writing flag is set by the caller).
func (fl *flusher) schedule(s *socket) {
	fl.mu.Lock()
	fl.ready = append(fl.ready, s)
	start := !fl.running
	fl.running = true
	fl.mu.Unlock()
	if start {
		go fl.run()
	}
}

// run flushes ready sockets until none is left.
func (fl *flusher) run() {
	var batch []*socket
	for {
		fl.mu.Lock()
		batch, fl.ready = fl.ready, batch[:0]
		if len(batch) == 0 {
			fl.running = false
			fl.mu.Unlock()
			return
		}
		fl.mu.Unlock()
		for i, s := range batch {
			s.flush(&fl.scratch)
			batch[i] = nil
			if (i+1)%flushesPerYield == 0 {
				runtime.Gosched()
			}
		}
	}
}

// flushesPerYield is how many sockets a flusher writes before it lets the
// other runnable goroutines have the processor. A write takes ~10 µs of
// kernel time on loopback, and a broadcast can queue thousands of sockets;
// without yielding, a flusher keeps its P until the scheduler preempts it
// (10 ms), and the goroutines that make the next deliveries (room actors,
// the store's commit leader back from its fsync) wait in line behind it, one
// time slice per hop. Yielding every 32 writes (~0.3 ms) costs a Gosched
// per 32 writes.
const flushesPerYield = 32

// maxIovecs bounds one writev (Linux's IOV_MAX is 1024; two per frame).
const maxIovecs = 1024

// errWouldBlock reports a write the kernel could not take at once.
var errWouldBlock = errors.New("transport: socket buffer full")

// headerLen is the length of the header frameHeader writes for a payload
// of n bytes.
func headerLen(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xFFFF:
		return 4
	}
	return 10
}

// frameHeader appends the header of an unmasked, unfragmented server frame
// (RFC 6455 §5.2) with opcode op and a payload of n bytes.
func frameHeader(dst []byte, op byte, n int) []byte {
	dst = append(dst, 0x80|op)
	switch {
	case n < 126:
		return append(dst, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 126)
		return binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 127)
		return binary.BigEndian.AppendUint64(dst, uint64(n))
	}
}
