package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// presenceBatch gathers a room's presence changes for --presence-interval
// (or, at 0, until the room has handled the commands already in its
// mailbox), then pushes them as one presence_diff per recipient group instead
// of one frame per change to every member: in a join storm a room of N
// members otherwise writes N frames per join.
//
// Events keep their order. Members present before the batch get every event;
// a connection that joined within the batch gets only the events after its
// own join (its joined reply listed the users present then), so nobody hears
// about themselves joining. A join and a leave of the same user inside one
// recipient's view cancel out.
type presenceBatch struct {
	events []presenceEvent
	queued bool // a flushPresence is in the mailbox
}

type presenceEvent struct {
	user   UserRef
	join   bool
	joiner *actor.PID // join events: the connection whose join made the user present
	// isState marks a change of connection conn's presence state to state
	// (nil: cleared) instead of a join or leave.
	isState bool
	conn    string
	state   []byte
}

// flushPresence is the room's note to itself to push the batched changes; it
// arrives after every command queued before the first change.
type flushPresence struct{ gen uint64 }

// presenceOff reports whether the room's presence is off: its stored
// config says so (the server API), or its name matches --no-presence-rooms.
// Such a room keeps its members (for delivery and counts) but gathers no
// presence changes, pushes no presence_diff, lists no members in joined,
// and refuses presence and presence_set with presence_disabled: a join or
// leave then costs no presence work at all, the point for large broadcast
// rooms.
func (r *roomActor) presenceOff() bool {
	if r.config.NoPresence {
		return true
	}
	s := r.shell
	if s.namedNoPresence == 0 {
		s.namedNoPresence = -1
		if r.env.cfg.NoPresenceFor(s.name) {
			s.namedNoPresence = 1
		}
	}
	return s.namedNoPresence > 0
}

// presenceJoined queues a user's arrival through conn.
// In a cluster, a user another node has is present already (and stays).
func (r *roomActor) presenceJoined(u UserRef, conn *actor.PID) {
	r.schedulePresence()
	if !r.remoteHas(u.ID) {
		r.queuePresence(presenceEvent{user: u, join: true, joiner: conn})
	}
}

// presenceGone queues a user's departure.
func (r *roomActor) presenceGone(u UserRef) {
	r.schedulePresence()
	if !r.remoteHas(u.ID) {
		r.queuePresence(presenceEvent{user: u})
	}
}

func (r *roomActor) queuePresence(ev presenceEvent) {
	if r.presenceOff() {
		return
	}
	r.presenceDiffs.events = append(r.presenceDiffs.events, ev)
	if !r.presenceDiffs.queued {
		r.presenceDiffs.queued = true
		if d := r.presenceGather(); d > 0 {
			r.after(d, &flushPresence{gen: r.gen})
		} else {
			r.env.root.Send(r.self, &flushPresence{gen: r.gen})
		}
	}
}

// PresenceGatherStep is how many connections of a room add one more
// --presence-interval to the time it gathers presence changes (up to
// --presence-interval-max).
const PresenceGatherStep = 10

// presenceGather is how long the room gathers presence changes before it
// pushes them. A change costs one frame per connection in the room, so a
// big room gathers longer: a storm of joins into a room of 100 then costs
// each member a diff a second rather than one per join, which is what keeps
// a connect storm's presence work from growing with the square of the
// room's size.
func (r *roomActor) presenceGather() time.Duration {
	d, most := r.env.cfg.PresenceInterval, r.env.cfg.PresenceIntervalMax
	if d <= 0 || most <= d {
		return d
	}
	grown := d * time.Duration(1+len(r.shell.members.list)/PresenceGatherStep)
	return min(grown, most)
}

// flushPresenceBatch pushes the batched changes.
func (r *roomActor) flushPresenceBatch() {
	events := r.presenceDiffs.events
	r.presenceDiffs = presenceBatch{}
	if len(events) == 0 || r.presenceOff() { // turned off since they were queued
		return
	}
	// Where each recipient's view starts: 0 for members present before the
	// batch, one past its join for a connection that joined in it.
	start := make(map[string]int)
	for i, ev := range events {
		if ev.join && ev.joiner != nil {
			start[ev.joiner.Id] = i + 1
		}
	}
	encoded := make(map[int][]byte) // by view start
	n := 0
	for _, mem := range r.shell.members.list {
		from := start[mem.conn.Id]
		b, ok := encoded[from]
		if !ok {
			if diff, changed := netPresence(r.shell.name, events[from:]); changed {
				b = r.env.encoder.Encode(diff)
			}
			encoded[from] = b
		}
		if b != nil {
			mem.peer.Enqueue(b)
			n++
		}
	}
	r.env.metrics.FramesOut.WithLabelValues("presence_diff").Add(float64(n))
}

// netPresence folds a run of events into one diff: a user who joined and
// left (or left and came back) within it is not mentioned, and of the
// state changes of one connection only the last counts.
func netPresence(room string, events []presenceEvent) (PresenceDiff, bool) {
	net := make(map[string]int) // user id → +1 joined, -1 left, 0 no change
	order := make([]UserRef, 0, len(events))
	var states []StateChange
	stateAt := make(map[string]int) // connection → index in states
	for _, ev := range events {
		if ev.isState {
			change := StateChange{User: ev.user, Conn: ev.conn, State: ev.state}
			if i, ok := stateAt[ev.conn]; ok {
				states[i] = change
			} else {
				stateAt[ev.conn] = len(states)
				states = append(states, change)
			}
			continue
		}
		v, seen := net[ev.user.ID]
		if !seen {
			order = append(order, ev.user)
		}
		if ev.join {
			v++
		} else {
			v--
		}
		net[ev.user.ID] = v
	}
	diff := PresenceDiff{Room: room, Joins: []UserRef{}, Leaves: []UserRef{}}
	for _, u := range order {
		switch {
		case net[u.ID] > 0:
			diff.Joins = append(diff.Joins, u)
		case net[u.ID] < 0:
			diff.Leaves = append(diff.Leaves, u)
		}
	}
	diff.States = states
	return diff, len(diff.Joins)+len(diff.Leaves)+len(diff.States) > 0
}
