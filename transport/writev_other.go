//go:build !(darwin || linux || openbsd) || portablewrite

package transport

import (
	"errors"
	"net"
	"os"
	"slices"
	"time"
)

// The portable fallback of writev_unix.go, for systems where
// golang.org/x/sys/unix has no writev (Windows among them): a gathered write
// through net.Buffers (WSASend on Windows) bounded by a short write deadline
// instead of a non-blocking descriptor.

// writeNowBudget bounds how long one writeNow may wait for the kernel to
// take bytes; what it does not take by then goes to the blocking writer.
const writeNowBudget = 2 * time.Millisecond

// writeNow writes bufs with one gathered write that waits at most
// writeNowBudget and returns the bytes written; fewer than all of them
// (errWouldBlock included) means the rest must wait for a blocking write.
// Only a connection with a descriptor (c.raw set: a TCP or Unix socket) is
// written here: a TLS connection's state would not survive a timed-out write.
func (c *corkConn) writeNow(bufs [][]byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.raw == nil {
		return 0, errWouldBlock
	}
	if err := c.Conn.SetWriteDeadline(time.Now().Add(writeNowBudget)); err != nil {
		return 0, err
	}
	// WriteTo consumes the slice it is given; the caller's iovecs stay whole.
	v := net.Buffers(slices.Clone(bufs))
	n, err := v.WriteTo(c.Conn)
	// No deadline is left behind for gws's own writes; every blocking write
	// of the outbox sets its own.
	if derr := c.Conn.SetWriteDeadline(time.Time{}); derr != nil && err == nil {
		err = derr
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if n > 0 {
			return int(n), nil // partial: the caller hands the rest on
		}
		return 0, errWouldBlock
	}
	return int(n), err
}
