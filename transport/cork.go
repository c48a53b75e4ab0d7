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
	raw    syscall.RawConn // static: Conn's descriptor for non-blocking writes; nil if it has none
	mu     sync.Mutex
	corked bool
	buf    *[]byte // pooled while corked, nil otherwise
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

// CloseWrite half-closes the TCP connection underneath, when it can.
func (c *corkConn) CloseWrite() error {
	if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return nil
}
