package troupe

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// Shared documents: a room's append-only log of opaque CRDT updates (Yjs
// updates, say) and its latest snapshot. Updates are stream messages of the
// reserved kind "doc": stored, acked and deduplicated like Send, recovered
// after a reconnect like any message, and delivered to Options.OnEvent as
// DocUpdateEvents, never as MessageEvents.

// Document frame types and the reserved message kind.
const (
	typeDocUpdate   = "doc_update"
	typeDocSync     = "doc_sync"
	typeDocSnapshot = "doc_snapshot"
	kindDoc         = "doc"
)

// DocUpdate appends one update to the room's document and returns the
// server's ack. Like Send it retries under one cid after timeouts,
// reconnects, unavailable and rate_limited until the ack comes, ctx ends or
// the server refuses it; the server's dedup makes it exactly-once. data
// must not be empty; its size is bounded by the frame limit (64 KiB of
// frame, base64 included).
func (c *Client) DocUpdate(ctx context.Context, room string, data []byte) (Ack, error) {
	cid, err := newCID()
	if err != nil {
		return Ack{}, fmt.Errorf("troupe: document update in %s: %w", room, err)
	}
	b64 := base64.StdEncoding.EncodeToString(data)
	f, sent, err := c.attempts(ctx, request{
		what: "document update in " + room,
		room: room,
		frame: func(id int64) any {
			return docUpdateFrame{Type: typeDocUpdate, ID: id, Room: room, Data: b64, CID: cid}
		},
		want:  typeAck,
		retry: true,
	})
	if err != nil {
		return Ack{CID: cid, Attempts: sent}, fmt.Errorf("troupe: document update in %s: %w", room, err)
	}
	return Ack{Room: f.Room, MsgID: f.MsgID, Offset: f.Offset, TS: f.TS, Dup: f.Dup, CID: cid, Attempts: sent}, nil
}

// DocSync reads the room's document from after on (0: all of it), paging
// until the server has no more: the snapshot when it covers more than
// after, then the updates after it, in offset order. Join the room first:
// updates that arrive as DocUpdateEvents meanwhile may repeat ones of the
// result (CRDT updates apply idempotently). When the server reports a gap
// (updates trimmed that no snapshot covers), DocSync starts over from 0
// and the result has Reset set.
func (c *Client) DocSync(ctx context.Context, room string, after uint64) (DocState, error) {
	st := DocState{Room: room, Offset: after}
	for {
		f, err := c.do(ctx, request{
			what: "document sync of " + room,
			room: room,
			frame: func(id int64) any {
				return docSyncFrame{Type: typeDocSync, ID: id, Room: room, After: st.Offset}
			},
			want:  typeDocSync,
			retry: true,
		})
		if err != nil {
			return DocState{}, err
		}
		if f.Gap && !st.Reset && st.Offset > 0 {
			st = DocState{Room: room, Reset: true}
			continue
		}
		if s := f.Snapshot; s != nil {
			data, err := base64.StdEncoding.DecodeString(s.Data)
			if err != nil {
				return DocState{}, fmt.Errorf("troupe: document sync of %s: snapshot data: %w", room, err)
			}
			st.Snapshot = &DocSnapshot{Offset: s.Offset, Data: data, TS: s.TS}
			st.Updates = st.Updates[:0] // the snapshot covers them
		}
		for i := range f.Updates {
			u, err := docUpdateOf(f.Updates[i].roomMessage(room))
			if err != nil {
				return DocState{}, fmt.Errorf("troupe: document sync of %s: %w", room, err)
			}
			st.Updates = append(st.Updates, u)
		}
		if f.Offset <= st.Offset && f.More {
			return DocState{}, fmt.Errorf("troupe: document sync of %s: the server's page did not advance from %d", room, st.Offset)
		}
		st.Offset = f.Offset
		if !f.More {
			return st, nil
		}
	}
}

// DocSnapshot offers the server a snapshot of the room's document that
// covers every update with an offset up to offset. The server keeps the
// newest snapshot per room: it reports the offset of the one it keeps and
// whether it is this one (false when it holds a newer one already, or,
// in a cluster, when this node does not own the room). Retention may then
// drop the updates the kept snapshot covers.
func (c *Client) DocSnapshot(ctx context.Context, room string, offset uint64, data []byte) (kept uint64, stored bool, err error) {
	b64 := base64.StdEncoding.EncodeToString(data)
	f, err := c.do(ctx, request{
		what: "document snapshot of " + room,
		room: room,
		frame: func(id int64) any {
			return docSnapshotFrame{Type: typeDocSnapshot, ID: id, Room: room, Offset: offset, Data: b64}
		},
		want:  typeDocSnapshot,
		retry: true,
	})
	if err != nil {
		return 0, false, err
	}
	return f.Offset, f.Stored, nil
}

// DocState is a room's document as DocSync read it.
type DocState struct {
	Room     string
	Snapshot *DocSnapshot // nil when the sync started at or after the kept snapshot, or the room has none
	Updates  []DocUpdate  // after the snapshot (or after the sync's start), in offset order
	Offset   uint64       // where the reader stands: pass it to the next DocSync
	// Reset reports that the server could not continue from the offset
	// asked for and the state starts from nothing: discard the local
	// document before applying it.
	Reset bool
}

// DocSnapshot is a stored snapshot of a room's document.
type DocSnapshot struct {
	Offset uint64 // it covers the updates up to this offset
	Data   []byte
	TS     int64 // Unix milliseconds, when the server stored it
}

// DocUpdate is one update of a room's document.
type DocUpdate struct {
	Offset uint64
	MsgID  string
	TS     int64 // Unix milliseconds
	From   User
	Data   []byte // the update, decoded; nil if it was not base64 (never from a troupe server)
}

// DocUpdateEvent is an update of a joined room's document, pushed or
// replayed by a rejoin's recovery, in the room's stream order.
type DocUpdateEvent struct {
	Room string
	DocUpdate
	Epoch    string
	Replayed bool // it came from a rejoin's recovery, not a live push
}

func (DocUpdateEvent) event() {}

// docUpdateOf decodes a stream message of kind doc.
func docUpdateOf(m RoomMessage) (DocUpdate, error) {
	var b64 string
	if err := json.Unmarshal(m.Data, &b64); err != nil {
		return DocUpdate{}, fmt.Errorf("update at offset %d: data is not a string: %w", m.Offset, err)
	}
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return DocUpdate{}, fmt.Errorf("update at offset %d: %w", m.Offset, err)
	}
	return DocUpdate{Offset: m.Offset, MsgID: m.ID, TS: m.TS, From: m.From, Data: data}, nil
}

// routeDoc turns a MessageEvent of kind doc into a DocUpdateEvent; other
// events pass unchanged.
func routeDoc(ev Event) Event {
	m, ok := ev.(MessageEvent)
	if !ok || m.Kind != kindDoc {
		return ev
	}
	u, err := docUpdateOf(m.RoomMessage)
	if err != nil { // not from a troupe server, which checks every update
		u = DocUpdate{Offset: m.Offset, MsgID: m.ID, TS: m.TS, From: m.From}
	}
	return DocUpdateEvent{Room: m.Room, DocUpdate: u, Epoch: m.Epoch, Replayed: m.Replayed}
}

type docUpdateFrame struct {
	Type string `json:"type"`
	ID   int64  `json:"id"`
	Room string `json:"room"`
	Data string `json:"data"`
	CID  string `json:"cid"`
}

type docSyncFrame struct {
	Type  string `json:"type"`
	ID    int64  `json:"id"`
	Room  string `json:"room"`
	After uint64 `json:"after"`
}

type docSnapshotFrame struct {
	Type   string `json:"type"`
	ID     int64  `json:"id"`
	Room   string `json:"room"`
	Offset uint64 `json:"offset"`
	Data   string `json:"data"`
}

// wireSnapshot is the snapshot of a doc_sync reply.
type wireSnapshot struct {
	Offset uint64 `json:"offset"`
	Data   string `json:"data"`
	TS     int64  `json:"ts"`
}
