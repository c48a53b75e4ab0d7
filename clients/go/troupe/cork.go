package troupe

import (
	"fmt"
	"net"
	"sync"
)

// corkConn lets a connection send several frames with one write: while it
// is corked, writes are buffered, and uncork sends them at once. A
// reconnect corks its hello and its rooms' joins: one segment instead of
// 1 + rooms, and no join written after a server that already closed the
// socket (at its connection limit, say) can end the connection with a write
// error before its close frame is read.
type corkConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool   // guarded by mu
	buf    []byte // guarded by mu: what was written while corked
}

// Write implements net.Conn.
func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// cork buffers every write until uncork.
func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork writes what was buffered, in one write, within the deadline the
// last buffered frame set.
func (c *corkConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	b := c.buf
	c.buf = nil
	if len(b) == 0 {
		return nil
	}
	if _, err := c.Conn.Write(b); err != nil {
		return fmt.Errorf("write corked frames: %w", err)
	}
	return nil
}
