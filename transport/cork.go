package transport

import (
	"net"
	"sync"
	"syscall"
)

// corkConn is the net.Conn under a gws connection. While corked, writes
// (frames gws generates) collect in a buffer; uncorking sends them in one
// write. The outbox writer corks around each batch of queued frames, so a
// member that is behind gets many frames in one syscall: write syscalls
// dominate fan-out. Writes from gws itself (a close frame after a read
// fault) keep their place in the stream.
type corkConn struct {
	net.Conn
	raw     syscall.RawConn // static: Conn's descriptor for non-blocking writes; nil if it has none
	mu      sync.Mutex
	corked  bool
	buf     *[]byte // pooled while corked, nil otherwise
	sealing bool    // the next write is the last: then half-close
	sealed  bool    // half-closed: later writes are dropped
}

// newCorkConn wraps c.
func newCorkConn(c net.Conn) *corkConn {
	cc := &corkConn{Conn: c}
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			cc.raw = raw
		}
	}
	return cc
}

// corkBuffers recycles cork buffers; one is held only while a batch is written.
var corkBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooledCork keeps buffers grown by large frames out of the pool.
const maxPooledCork = 64 << 10

// Write implements net.Conn.
func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.sealed:
		return 0, net.ErrClosed
	case c.sealing:
		// Our close frame: written, then the write side shut in the same
		// critical section, so gws's echo of the client's answering close
		// frame (written from its read loop) can never slip in between.
		n, err := c.Conn.Write(p)
		c.sealing, c.sealed = false, true
		_ = c.closeWrite() // best effort: without it the client just gets the echo
		return n, err
	}
	if c.corked {
		if c.buf == nil {
			c.buf = corkBuffers.Get().(*[]byte)
		}
		*c.buf = append(*c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// cork starts collecting writes.
func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork sends what was collected in one write and stops collecting.
func (c *corkConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if c.buf == nil {
		return nil
	}
	b := c.buf
	c.buf = nil
	_, err := c.Conn.Write(*b) // under mu: a concurrent gws write waits, and stays behind
	if cap(*b) <= maxPooledCork {
		*b = (*b)[:0]
		corkBuffers.Put(b)
	}
	return err
}

// sealAfterNextWrite makes the next write the connection's last: it is
// written, the TCP connection half-closed, and every later write dropped
// with net.ErrClosed. The socket calls it before writing its close frame.
func (c *corkConn) sealAfterNextWrite() {
	c.mu.Lock()
	c.sealing = true
	c.mu.Unlock()
}

// CloseWrite half-closes the TCP connection underneath, when it can.
func (c *corkConn) CloseWrite() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeWrite()
}

// closeWrite is CloseWrite with mu held.
func (c *corkConn) closeWrite() error {
	if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return nil
}
