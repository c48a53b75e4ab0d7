package actors

import "github.com/troupe-chat/troupe/persistence"

// The vocabulary of shared documents (../PROTOCOL.md "Collaboration: shared
// documents"): the commands the transport posts for doc_update, doc_sync and
// doc_snapshot, and the frames that answer them. A document is the room's
// stream of messages of kind persistence.KindDoc plus at most one snapshot.

// Document limits.
const (
	// DocSyncDefault is a doc_sync's limit when the frame gives none.
	DocSyncDefault = 1000
	// DocSyncMax is the largest limit a doc_sync may ask for.
	DocSyncMax = 5000
	// DocSyncMaxBytes bounds the update data of one doc_sync page: the page
	// ends after the update that reaches it.
	DocSyncMaxBytes = 1 << 20
)

// DocUpdate appends one opaque CRDT update to a room's document: a message
// of kind doc, stored, acked, deduplicated and delivered as a send is.
type DocUpdate struct {
	ID   int64
	Room string
	Data []byte // the update as a JSON string of standard base64, validated
	CID  string
}

// DocSync asks for a room's document from After on: the snapshot when it
// covers more than After, then the updates after it.
type DocSync struct {
	ID    int64
	Room  string
	After uint64
	Limit int // 0: absent (DocSyncDefault)
}

// DocSnapshot offers a snapshot of a room's document covering every update
// with an offset <= Offset.
type DocSnapshot struct {
	ID     int64
	Room   string
	Offset uint64
	Data   []byte // decoded from base64, not empty
}

// RequestID implements Command.
func (m DocUpdate) RequestID() int64 { return m.ID }

// RequestID implements Command.
func (m DocSync) RequestID() int64 { return m.ID }

// RequestID implements Command.
func (m DocSnapshot) RequestID() int64 { return m.ID }

// CommandType implements Command.
func (DocUpdate) CommandType() string { return "doc_update" }

// CommandType implements Command.
func (DocSync) CommandType() string { return "doc_sync" }

// CommandType implements Command.
func (DocSnapshot) CommandType() string { return "doc_snapshot" }

func (DocUpdate) command()   {}
func (DocSync) command()     {}
func (DocSnapshot) command() {}

// DocSyncReply answers a doc_sync: the snapshot (nil when it does not cover
// more than the request's after), the doc updates after it in ascending
// offset order, where the client now stands, and whether more follow.
type DocSyncReply struct {
	ID       int64
	Room     string
	Snapshot *persistence.Snapshot
	Updates  []persistence.Message
	Offset   uint64
	More     bool
	Gap      bool // updates the client needs are gone and no snapshot covers them
}

// DocSnapshotReply answers a doc_snapshot: Offset is the kept snapshot's,
// Stored whether it is the one offered.
type DocSnapshotReply struct {
	ID     int64
	Room   string
	Offset uint64
	Stored bool
}

// FrameType implements Frame.
func (DocSyncReply) FrameType() string { return "doc_sync" }

// FrameType implements Frame.
func (DocSnapshotReply) FrameType() string { return "doc_snapshot" }
