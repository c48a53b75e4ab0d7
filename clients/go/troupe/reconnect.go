package troupe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Reconnection: the run loop waits for the current connection to end,
// decides from the close code whether to reconnect (decideClose), and dials
// again with full-jitter backoff. A new connection resumes the session and
// recoverRooms joins every room again with since.

// run watches the current connection and replaces it when it ends, until the
// client closes.
func (c *Client) run(cn *conn) {
	defer c.wg.Done()
	for {
		c.wg.Add(1)
		go c.recoverRooms(cn)
		<-cn.done
		cause := cn.err()

		c.mu.Lock()
		if c.cur == cn {
			c.cur = nil
		}
		for _, r := range c.rooms {
			r.ready, r.held = false, nil
		}
		c.notifyLocked()
		closed := c.closedErr != nil
		newCreds := c.tokenGen != cn.tokenGen
		c.mu.Unlock()
		if closed {
			return
		}
		cn.log.Info("disconnected", "code", CloseCode(cause), "cause", cause)
		switch decideClose(cause) {
		case stop:
			c.finish(cause)
			return
		case reconnectIfNew:
			if !newCreds {
				c.finish(cause)
				return
			}
		}
		if cn = c.reconnect(cause); cn == nil {
			return
		}
	}
}

// reconnect dials until a connection is welcomed, sleeping a backoff before
// each attempt. It returns nil when the client closed or must stop.
func (c *Client) reconnect(cause error) *conn {
	for attempt := 1; ; attempt++ {
		delay := c.opts.Reconnect.Delay(attempt - 1)
		c.emit(ReconnectingEvent{Code: CloseCode(cause), Err: cause, Attempt: attempt, Delay: delay})
		c.log.Info("reconnecting", "attempt", attempt, "delay", delay, "cause", cause)
		if err := c.sleep(context.Background(), delay); err != nil {
			return nil
		}
		c.mu.Lock()
		gen := c.tokenGen
		c.mu.Unlock()
		cn, err := c.connect(c.ctx, true)
		if err == nil {
			return cn
		}
		if c.ctx.Err() != nil {
			return nil
		}
		cause = err
		if !c.mayRetryConnect(err, gen) {
			c.finish(err)
			return nil
		}
	}
}

// mayRetryConnect reports whether a failed connection attempt is worth
// repeating: not when the server refused the credentials it carried (gen)
// and no newer ones came since.
func (c *Client) mayRetryConnect(err error, gen uint64) bool {
	c.mu.Lock()
	newCreds := c.tokenGen != gen
	c.mu.Unlock()
	switch ErrorCode(err) {
	case CodeUnauthorized, CodeInvalid:
		return newCreds
	}
	if he, ok := errors.AsType[*HandshakeError](err); ok && he.Status == http.StatusUnauthorized {
		return newCreds
	}
	switch decideClose(err) {
	case stop:
		return false
	case reconnectIfNew:
		return newCreds
	}
	return true
}

// finish closes the client for good because of cause.
func (c *Client) finish(cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closedErr != nil {
		return
	}
	c.closedErr = fmt.Errorf("%w: %w", ErrClosed, cause)
	c.cur = nil
	c.enqueueLocked(ClosedEvent{Code: CloseCode(cause), Err: cause})
	c.final = true
	c.notifyLocked()
	c.log.Warn("closed", "code", CloseCode(cause), "cause", cause)
}
