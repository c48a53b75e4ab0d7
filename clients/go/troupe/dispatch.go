package troupe

// The dispatcher delivers queued events to Options.OnEvent on its own
// goroutine, so a handler may call the client (Send waits for a reply the
// read loop must be free to read). The read loop never waits for the handler:
// when the queue holds Options.MaxQueuedEvents, a push drops the connection
// instead (ErrEventOverflow) and recovery replays the messages later.

// dispatch runs until the final event is delivered.
func (c *Client) dispatch() {
	defer close(c.dispatchDone)
	for {
		c.mu.Lock()
		batch, final := c.queue, c.final
		c.queue = nil
		c.mu.Unlock()
		for _, ev := range batch {
			c.deliver(ev)
		}
		if len(batch) == 0 {
			if final {
				return
			}
			<-c.wake
		}
	}
}

func (c *Client) deliver(ev Event) {
	c.inHandler.Store(true)
	defer c.inHandler.Store(false)
	c.opts.OnEvent(routeDoc(ev)) // document updates are not chat messages
}

// enqueueLocked queues ev for the handler. Nothing is queued after the final
// ClosedEvent, nor when there is no handler.
func (c *Client) enqueueLocked(ev Event) {
	if c.opts.OnEvent == nil || c.final {
		return
	}
	c.queue = append(c.queue, ev)
	c.wakeLocked()
}

// wakeLocked signals the dispatcher without blocking.
func (c *Client) wakeLocked() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// queueFullLocked reports whether a pushed event would exceed
// MaxQueuedEvents.
func (c *Client) queueFullLocked() bool {
	return c.opts.OnEvent != nil && len(c.queue) >= c.opts.MaxQueuedEvents
}

// emit queues a state event.
func (c *Client) emit(ev Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.enqueueLocked(ev)
}
