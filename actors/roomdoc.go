package actors

import (
	"context"
	"errors"
	"strconv"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/troupe-chat/troupe/persistence"
)

// This file holds a room's shared document. Its updates are the room's
// messages of kind persistence.KindDoc, published, stored, acked and
// delivered as any message is (see roompublish.go); what is the document's
// own is reading it back (doc_sync) and keeping its snapshot (doc_snapshot).
// Both run on the room's store lane, behind the writes queued before them,
// so a sync sees every update acked before it was asked for. Their answers go
// from the lane straight to the asking connection's outbox: nothing of the
// room's state changes with them.

// docSyncOf asks a room for its document after an offset.
type docSyncOf struct {
	Conn  *actor.PID
	Peer  Outbox
	ID    int64
	After uint64
	Limit int // 1..DocSyncMax
}

// docSnapshotOf offers a room a snapshot of its document.
type docSnapshotOf struct {
	Conn   *actor.PID
	Peer   Outbox
	ID     int64
	Offset uint64
	Data   []byte
}

func (*docSyncOf) roomCommand()     {}
func (*docSnapshotOf) roomCommand() {}

// docSync answers a doc_sync from the store.
func (r *roomActor) docSync(m *docSyncOf) {
	if r.shell.members.get(m.Conn) == nil {
		r.env.sendTo(m.Peer, ErrorFrame{ID: m.ID, Code: CodeNotJoined, Message: "join " + r.shell.name + " to sync its document"})
		return
	}
	e, name := r.env, r.shell.name
	r.shell.lane.Do(func() {
		ctx, cancel := contextFor(e.cfg)
		defer cancel()
		reply, err := readDoc(ctx, e.store, name, m.After, m.Limit)
		if err != nil {
			e.log.Error("document read failed", "room", name, "err", err)
			e.sendTo(m.Peer, ErrorFrame{ID: m.ID, Code: CodeUnavailable, Message: "the document is unavailable; retry"})
			return
		}
		reply.ID = m.ID
		e.sendTo(m.Peer, reply)
	})
}

// readDoc reads one doc_sync page of room: the snapshot when it covers
// more than after, then at most limit doc updates after the snapshot (or
// after), cut after the one that reaches DocSyncMaxBytes of data.
//
// The reply never reports a gap: retention keeps every doc update a
// snapshot does not cover (persistence.DocStore), so whatever a client
// standing at after lacks is either retained or in the snapshot.
func readDoc(ctx context.Context, store persistence.Store, room string, after uint64, limit int) (DocSyncReply, error) {
	reply := DocSyncReply{Room: room, Offset: after, Updates: []persistence.Message{}}
	snap, ok, err := store.LoadSnapshot(ctx, room)
	if err != nil {
		return DocSyncReply{}, err
	}
	from := after
	if ok && snap.Offset > after {
		reply.Snapshot, reply.Offset, from = &snap, snap.Offset, snap.Offset
	}
	var updates []persistence.Message
	if from == 0 {
		// Read pages forwards only after an offset: offset 1 comes first,
		// on its own.
		first, err := store.Read(ctx, room, persistence.ReadQuery{Before: 2, Limit: 1, Kind: persistence.KindDoc})
		if err != nil {
			return DocSyncReply{}, err
		}
		updates, from = first.Messages, 1
	}
	res, err := store.Read(ctx, room, persistence.ReadQuery{After: from, Limit: limit, Kind: persistence.KindDoc})
	if err != nil {
		return DocSyncReply{}, err
	}
	updates = append(updates, res.Messages...)
	reply.More = res.More
	size := 0
	for i := range updates {
		size += len(updates[i].Data)
		if i+1 == limit || size >= DocSyncMaxBytes {
			reply.More = reply.More || i+1 < len(updates)
			updates = updates[:i+1]
			break
		}
	}
	if n := len(updates); n > 0 {
		reply.Updates, reply.Offset = updates, updates[n-1].Offset
	}
	return reply, nil
}

// docSnapshot stores a snapshot of the room's document. Only the room's
// owner writes the store; a relay (another node owns the room) answers
// with the snapshot the store keeps, storing nothing.
func (r *roomActor) docSnapshot(m *docSnapshotOf) {
	if r.shell.members.get(m.Conn) == nil {
		r.env.sendTo(m.Peer, ErrorFrame{ID: m.ID, Code: CodeNotJoined, Message: "join " + r.shell.name + " to store a snapshot of its document"})
		return
	}
	if last := r.stream.committed; m.Offset == 0 || m.Offset > last {
		r.env.sendTo(m.Peer, ErrorFrame{ID: m.ID, Code: CodeInvalid,
			Message: "offset must be 1 to the room's last offset, " + strconv.FormatUint(last, 10)})
		return
	}
	e, name, claim, relay := r.env, r.shell.name, r.stream.claim(), r.relay
	snap := persistence.Snapshot{Offset: m.Offset, Data: m.Data, TS: e.clock.Now().UnixMilli()}
	r.shell.lane.Do(func() {
		ctx, cancel := contextFor(e.cfg)
		defer cancel()
		var kept persistence.Snapshot
		var stored bool
		var err error
		if relay {
			kept, _, err = e.store.LoadSnapshot(ctx, name)
		} else {
			kept, stored, err = e.store.SaveSnapshot(ctx, name, claim, snap)
		}
		switch {
		case errors.Is(err, persistence.ErrInvalidSnapshot):
			e.sendTo(m.Peer, ErrorFrame{ID: m.ID, Code: CodeInvalid, Message: "the snapshot's offset is beyond the room's stream"})
		case err != nil:
			e.log.Warn("document snapshot not stored", "room", name, "err", err)
			e.sendTo(m.Peer, ErrorFrame{ID: m.ID, Code: CodeUnavailable, Message: "the snapshot was not stored; retry"})
		default:
			e.sendTo(m.Peer, DocSnapshotReply{ID: m.ID, Room: name, Offset: kept.Offset, Stored: stored})
		}
	})
}
