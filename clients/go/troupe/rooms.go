package troupe

import (
	"slices"
)

// room is the client's view of a joined room's stream. Guarded by Client.mu.
type room struct {
	name     string
	password string // sent again on rejoin
	epoch    string
	last     uint64              // offset of the last message delivered, or acked to us
	own      map[uint64]struct{} // our acked offsets above last: the server never pushes them to us
	ready    bool                // joined on the current connection
	held     []RoomMessage       // pushes that came before the rejoin's reply
	state    []byte              // the presence state set here, sent again on rejoin
}

// advance records that every offset up to off is done, then skips over our
// own messages that follow.
func (r *room) advance(off uint64) {
	r.last = max(r.last, off)
	for {
		if _, ok := r.own[r.last+1]; !ok {
			break
		}
		delete(r.own, r.last+1)
		r.last++
	}
	for o := range r.own {
		if o <= r.last {
			delete(r.own, o)
		}
	}
}

// ack records that the server stored one of our messages at off.
func (r *room) ack(off uint64) {
	switch {
	case off <= r.last:
	case off == r.last+1:
		r.advance(off)
	default:
		if r.own == nil {
			r.own = make(map[uint64]struct{})
		}
		r.own[off] = struct{}{}
	}
}

// isNew reports whether m is to be delivered: above last and not our own.
// Our own message only advances the stream.
func (r *room) isNew(off uint64) bool {
	if off <= r.last {
		return false
	}
	if _, mine := r.own[off]; mine {
		r.advance(off)
		return false
	}
	return true
}

// deliverLocked queues m unless it was delivered already. It returns
// ErrEventOverflow, leaving m undelivered, when the queue is full.
func (c *Client) deliverLocked(r *room, m RoomMessage, replayed bool) error {
	if !r.isNew(m.Offset) {
		return nil
	}
	if c.queueFullLocked() {
		return ErrEventOverflow
	}
	r.advance(m.Offset)
	c.enqueueLocked(MessageEvent{RoomMessage: m, Epoch: r.epoch, Replayed: replayed})
	return nil
}

// ownAck records one of our messages acked at off in room.
func (c *Client) ownAck(name string, off uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.rooms[name]; r != nil {
		r.ack(off)
	}
}

// joined applies the reply to Join: a room joined for the first time is
// tracked from the room's current offset on.
func (c *Client) joined(password string, f *inFrame) {
	if f.Type != typeJoined {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rooms[f.Room]
	if r == nil {
		c.rooms[f.Room] = &room{name: f.Room, password: password, epoch: f.Epoch, last: f.Offset, ready: true}
		c.notifyLocked()
		return
	}
	r.password = password
	if r.ready && r.epoch != f.Epoch { // its history was lost: a new stream
		r.epoch, r.last, r.own = f.Epoch, f.Offset, nil
	}
	// A room not ready is being rejoined; the rejoin's reply recovers it.
}

// Position returns the last offset delivered for a joined room, the point a
// rejoin recovers from.
func (c *Client) Position(name string) (Position, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rooms[name]
	if r == nil {
		return Position{}, false
	}
	return Position{Epoch: r.epoch, Offset: r.last}, true
}

// JoinedRooms returns the rooms the client tracks, sorted.
func (c *Client) JoinedRooms() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.rooms))
	for name := range c.rooms {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
