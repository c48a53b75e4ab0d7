//go:build (darwin || linux || openbsd) && !portablewrite

package transport

import "golang.org/x/sys/unix"

// The non-blocking vectored write of the flushers, on the systems where
// golang.org/x/sys/unix has writev (the same set as its readv_unix.go);
// writev_other.go is the portable fallback (the build tag portablewrite
// selects it here too, to test it: go test -tags portablewrite ./transport/).

// writeNow writes bufs with one non-blocking writev and returns the bytes
// written; fewer than all of them (errWouldBlock included) means the rest
// must wait for a blocking write.
func (c *corkConn) writeNow(bufs [][]byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.raw == nil {
		return 0, errWouldBlock
	}
	var n int
	var werr error
	err := c.raw.Write(func(fd uintptr) bool {
		for {
			n, werr = unix.Writev(int(fd), bufs)
			if werr != unix.EINTR {
				return true // one attempt: never wait for writability here
			}
		}
	})
	switch {
	case err != nil:
		return 0, err
	case werr == unix.EAGAIN:
		return 0, errWouldBlock
	case werr != nil:
		return 0, werr
	}
	return max(n, 0), nil
}
