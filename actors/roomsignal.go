package actors

import (
	"bytes"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
)

// This file holds a room's ephemeral collaboration state: signals (cursor
// positions and the like, relayed and never kept) and the presence states
// of its member connections (kept with the member, pushed as presence_diff
// states, never stored).

// signal relays a member's signal to the room's other connections, here
// and, in a cluster, on the other nodes.
func (r *roomActor) signal(m *signalIn) {
	mem := r.shell.members.get(m.Conn)
	if mem == nil {
		r.env.sendTo(m.Peer, ErrorFrame{ID: m.ID, Code: CodeNotJoined, Message: "join " + r.shell.name + " before signalling in it"})
		return
	}
	r.offerSignal(SignalPush{Room: r.shell.name, User: mem.user, Conn: mem.tag, Key: m.Key, Data: m.Data}, m.Conn)
	if r.shell.cl != nil {
		r.publishFeed(RoomEvent{Kind: EventSignal, User: mem.user, Conn: mem.tag, Key: m.Key, Data: m.Data})
	}
}

// offerSignal offers a signal, encoded once, to every member connection here
// but from (nil for a signal of another node). Each outbox keeps only the
// latest frame of the signal's connection and key that it has not written
// yet: a member that reads slowly gets fewer, current frames, and is never
// closed for them.
func (r *roomActor) offerSignal(p SignalPush, from *actor.PID) {
	b := r.env.encoder.Encode(p)
	key := signalKey(p.Room, p.Conn, p.Key)
	n := 0
	for _, other := range r.shell.members.list {
		if from != nil && other.conn.Id == from.Id {
			continue
		}
		if other.peer.OfferLatest(key, b) {
			n++
		}
	}
	r.env.metrics.FramesOut.WithLabelValues("signal").Add(float64(n))
}

// signalKey is the coalescing key of a signal in an outbox: one per room,
// sending connection and signal key.
func signalKey(room, conn, key string) string {
	var b strings.Builder
	b.Grow(len(room) + len(conn) + len(key) + 8)
	b.WriteString("signal\x00")
	b.WriteString(room)
	b.WriteByte(0)
	b.WriteString(conn)
	b.WriteByte(0)
	b.WriteString(key)
	return b.String()
}

// presenceSet records a member connection's presence state and queues the
// change for the next presence_diff.
func (r *roomActor) presenceSet(m *presenceSetIn) {
	mem := r.shell.members.get(m.Conn)
	if mem == nil {
		r.env.sendTo(m.Peer, ErrorFrame{ID: m.ID, Code: CodeNotJoined, Message: "join " + r.shell.name + " before setting its presence state"})
		return
	}
	if r.presenceOff() {
		r.env.sendTo(m.Peer, ErrorFrame{ID: m.ID, Code: CodePresenceDisabled, Message: "presence is off in " + r.shell.name})
		return
	}
	if bytes.Equal(mem.state, m.State) && (mem.state == nil) == (m.State == nil) {
		return
	}
	mem.state = m.State
	r.schedulePresence()
	r.queuePresence(presenceEvent{user: mem.user, conn: mem.tag, state: m.State, isState: true})
}

// clearState queues the end of a leaving connection's presence state.
func (r *roomActor) clearState(mem *member) {
	if mem.state == nil {
		return
	}
	mem.state = nil
	r.schedulePresence()
	r.queuePresence(presenceEvent{user: mem.user, conn: mem.tag, isState: true})
}

// remoteStates queues the presence state changes between two snapshots of
// another node.
func (r *roomActor) remoteStates(before, next map[string]PresenceMember) {
	was := make(map[string][]byte)
	for _, u := range before {
		for _, s := range u.States {
			was[s.Conn] = s.State
		}
	}
	for _, u := range next {
		for _, s := range u.States {
			old, had := was[s.Conn]
			delete(was, s.Conn)
			if !had || !bytes.Equal(old, s.State) {
				r.queuePresence(presenceEvent{user: UserRef{ID: u.ID, Name: u.Name}, conn: s.Conn, state: s.State, isState: true})
			}
		}
	}
	for _, u := range before {
		for _, s := range u.States {
			if _, gone := was[s.Conn]; gone {
				r.queuePresence(presenceEvent{user: UserRef{ID: u.ID, Name: u.Name}, conn: s.Conn, isState: true})
			}
		}
	}
}

// statesOf lists the presence states of a presence list.
func statesOf(list []PresenceMember) []StateChange {
	var out []StateChange
	for _, p := range list {
		for _, s := range p.States {
			out = append(out, StateChange{User: UserRef{ID: p.ID, Name: p.Name}, Conn: s.Conn, State: s.State})
		}
	}
	return out
}

// byConn orders connection states by connection.
func byConn(a, b ConnState) int { return strings.Compare(a.Conn, b.Conn) }
