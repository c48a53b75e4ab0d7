package persistence

import (
	"context"
	"errors"
)

// KindDoc is the reserved message kind of a shared document's updates: a
// message of this kind carries one opaque CRDT update in Data (a JSON string
// of standard base64). Document updates live in the room's stream like any
// message, so they share its offsets, dedup, recovery and retention; only
// retention treats them specially (see DocStore).
const KindDoc = "doc"

// ErrInvalidSnapshot is returned (wrapped) by SaveSnapshot for a snapshot
// with no data or an offset outside 1..the room's last offset.
var ErrInvalidSnapshot = errors.New("persistence: invalid document snapshot")

// Snapshot is a room document's state as a client encoded it: it covers
// every document update of the room's stream with an offset <= Offset.
type Snapshot struct {
	Offset uint64 // the last document update it covers
	Data   []byte // opaque to the server
	TS     int64  // Unix milliseconds, when the server stored it
}

// DocStore keeps the latest document snapshot of each room: one per room and
// epoch, the one with the highest offset. A snapshot lets retention drop the
// document updates it covers: Trim never deletes a message of kind KindDoc
// with an offset above the room's snapshot offset (0 without a snapshot), and
// stops its prefix there. DeleteRoom erases the snapshot with the stream.
type DocStore interface {
	// SaveSnapshot stores s as the room's snapshot under the claim, unless
	// the room already holds one with an offset >= s.Offset; kept is the
	// snapshot the room holds afterwards and stored whether it is s. Like
	// Append it fails with ErrEpochMismatch or ErrFenced (wrapped) for a
	// stale claim and ErrNoSuchRoom for a room that does not exist; a
	// snapshot with no Data or an Offset outside 1..LastOffset fails with
	// ErrInvalidSnapshot. The snapshot is as durable as an appended batch
	// when it returns.
	SaveSnapshot(ctx context.Context, room string, c Claim, s Snapshot) (kept Snapshot, stored bool, err error)
	// LoadSnapshot returns the room's snapshot in its current epoch, and ok
	// false when it has none (or the room does not exist).
	LoadSnapshot(ctx context.Context, room string) (s Snapshot, ok bool, err error)
}
