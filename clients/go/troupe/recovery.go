package troupe

import (
	"cmp"
	"errors"
	"slices"
	"sync"
	"time"
)

// rejoinedLocked applies a rejoin's reply: it announces the recovery,
// replays the missed messages, then whatever was held, and marks the room
// ready.
func (c *Client) rejoinedLocked(r *room, f *inFrame) (recovered bool, err error) {
	from := r.last
	changed := r.epoch != f.Epoch
	if changed {
		r.epoch, r.last, r.own = f.Epoch, 0, nil
	}
	msgs := roomMessages(r.name, f.Messages)
	slices.SortFunc(msgs, func(a, b RoomMessage) int { return cmp.Compare(a.Offset, b.Offset) })
	replay := 0
	for i, m := range msgs {
		if m.Offset > r.last && (i == 0 || m.Offset != msgs[i-1].Offset) {
			if _, mine := r.own[m.Offset]; !mine {
				replay++
			}
		}
	}
	recovered = f.Recovered && !changed
	c.enqueueLocked(RecoveryEvent{
		Room: r.name, Epoch: f.Epoch, Recovered: recovered, EpochChanged: changed,
		From: from, To: f.Offset, Replayed: replay, Members: f.Members, States: connStates(f.States),
	})
	for _, m := range msgs {
		if err := c.deliverLocked(r, m, true); err != nil {
			return recovered, err
		}
	}
	held := r.held
	r.held = nil
	for _, m := range held {
		if err := c.deliverLocked(r, m, false); err != nil {
			return recovered, err
		}
	}
	r.advance(f.Offset) // after a gap, the stream goes on from the room's offset
	r.ready = true
	c.notifyLocked()
	return recovered, nil
}

// rejoinOutcome is how one room's rejoin ended.
type rejoinOutcome int

const (
	rejoinAborted   rejoinOutcome = iota // the connection ended, or the room is no longer tracked
	rejoinRecovered                      // joined, every missed message replayed
	rejoinGap                            // joined, some missed messages lost
	rejoinFailed                         // the server refused; the room is dropped
)

// sentJoin is a rejoin written right behind a reconnect's hello, before its
// welcome (the server handles a connection's frames in order), so a
// reconnect costs one round trip however many rooms the client is in.
type sentJoin struct {
	*pending
	outcome rejoinOutcome // set by the reply's hook on the read loop, before the reply is handed over
}

// sendRejoins writes a join with since for every room that is not ready,
// on cn right after its hello. recoverRooms waits for their replies once cn
// is welcomed; when it is not (the hello failed), connect drops them: the
// server closes a connection that sends a join after a failed hello, and
// the next connection rejoins again.
func (c *Client) sendRejoins(cn *conn) map[string]*sentJoin {
	sent := make(map[string]*sentJoin)
	for _, name := range c.notReady() {
		c.mu.Lock()
		frame, ok := c.rejoinFrameLocked(name)
		c.mu.Unlock()
		if !ok {
			continue
		}
		sj := &sentJoin{}
		sj.pending = cn.start(frame.ID, frame, func(f *inFrame) { sj.outcome = c.rejoined(cn, name, f) }, c.opts.RequestTimeout)
		sent[name] = sj
	}
	return sent
}

// notReady returns the rooms not ready on the current connection, sorted.
func (c *Client) notReady() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	for name, r := range c.rooms {
		if !r.ready {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// rejoinFrameLocked builds the join with since of room name, if tracked.
func (c *Client) rejoinFrameLocked(name string) (joinFrame, bool) {
	r := c.rooms[name]
	if r == nil {
		return joinFrame{}, false
	}
	frame := joinFrame{Type: typeJoin, ID: c.newID(), Room: name, Password: r.password,
		Since: &Position{Epoch: r.epoch, Offset: r.last}}
	if c.opts.RejoinHistory > 0 {
		frame.History = &c.opts.RejoinHistory
	}
	return frame, true
}

// recoverRooms rejoins every room that is not ready on cn, concurrently, and
// then reports the outcome with a RecoveredEvent (after a reconnect only).
// The rooms whose joins went behind the hello (cn.rejoins) wait for those.
func (c *Client) recoverRooms(cn *conn) {
	defer c.wg.Done()
	names := c.notReady()
	if !cn.reconnected {
		return // the first connection has no rooms to recover
	}
	for name := range cn.rejoins {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	outcomes := make([]rejoinOutcome, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { outcomes[i] = c.rejoin(cn, name, cn.rejoins[name]) })
	}
	wg.Wait()

	ev := RecoveredEvent{Rooms: []string{}}
	for i, name := range names {
		switch outcomes[i] {
		case rejoinAborted:
			continue
		case rejoinGap:
			ev.Gaps = append(ev.Gaps, name)
		case rejoinFailed:
			ev.Failed = append(ev.Failed, name)
			continue
		}
		ev.Rooms = append(ev.Rooms, name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == cn && cn.reconnected {
		c.enqueueLocked(ev)
	}
}

// rejoin joins one room again on cn with since, retrying while the server
// is unavailable; first (nil if none) is a join already written behind the
// hello, waited for before any other is sent.
func (c *Client) rejoin(cn *conn, name string, first *sentJoin) rejoinOutcome {
	for retries := 0; ; retries++ {
		c.mu.Lock()
		r := c.rooms[name]
		sj := first
		first = nil
		if sj == nil {
			if r == nil || r.ready || c.cur != cn {
				c.mu.Unlock()
				return rejoinAborted
			}
			frame, _ := c.rejoinFrameLocked(name)
			sj = &sentJoin{}
			c.mu.Unlock()
			sj.pending = cn.start(frame.ID, frame, func(f *inFrame) { sj.outcome = c.rejoined(cn, name, f) }, c.opts.RequestTimeout)
		} else {
			c.mu.Unlock()
		}

		_, err := sj.wait(c.ctx)
		switch {
		case err == nil:
			return sj.outcome
		case c.ctx.Err() != nil, errors.Is(err, ErrDisconnected):
			return rejoinAborted
		case errors.Is(err, ErrRequestTimeout), retryableCode(ErrorCode(err)), ErrorCode(err) == CodeInternal:
			cn.log.Debug("rejoin failed; retrying", "room", name, "err", err)
			if c.sleepConn(cn, c.opts.Retry.Delay(retries)) != nil {
				return rejoinAborted
			}
			continue
		}
		cn.log.Warn("rejoin refused", "room", name, "err", err)
		c.mu.Lock()
		if r != nil && c.rooms[name] == r {
			delete(c.rooms, name)
			c.enqueueLocked(RejoinFailedEvent{Room: name, Err: err})
			c.notifyLocked()
		}
		c.mu.Unlock()
		return rejoinFailed
	}
}

// rejoined runs on the read loop with a rejoin's joined reply.
func (c *Client) rejoined(cn *conn, name string, f *inFrame) rejoinOutcome {
	if f.Type != typeJoined {
		return rejoinAborted
	}
	c.mu.Lock()
	if c.cur != cn {
		// An abandoned connection: the next one rejoins the room.
		c.mu.Unlock()
		return rejoinAborted
	}
	r := c.rooms[name]
	if r == nil || r.ready {
		c.mu.Unlock()
		if r == nil { // left while the rejoin was in flight
			if err := cn.write(roomFrame{Type: typeLeave, Room: name}); err != nil {
				cn.log.Debug("leave after rejoin", "room", name, "err", err)
			}
		}
		return rejoinAborted
	}
	recovered, err := c.rejoinedLocked(r, f)
	state := r.state
	c.mu.Unlock()
	if err != nil {
		cn.abort(err)
		return rejoinAborted
	}
	cn.restoreState(name, state)
	if recovered {
		return rejoinRecovered
	}
	return rejoinGap
}

// sleepConn waits d unless cn ends or the client closes first.
func (c *Client) sleepConn(cn *conn, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-cn.done:
		return ErrDisconnected
	case <-c.ctx.Done():
		return ErrClosed
	}
}
