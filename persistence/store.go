package persistence

import (
	"context"
	"errors"
)

// ErrNoSuchRoom is returned by operations on a room the store does not know.
var ErrNoSuchRoom = errors.New("persistence: no such room")

// ErrEpochMismatch is returned by Append when the room's stored epoch differs from the
// epoch the caller wrote for: the room was deleted and created again meanwhile.
var ErrEpochMismatch = errors.New("persistence: epoch mismatch")

// ErrFenced is returned (wrapped) by Append when the room has been claimed
// since the caller's claim: a newer owner holds it, and the caller must stop
// writing. Nothing of the batch is stored. The fence check and the offset
// check are one atomic step.
var ErrFenced = errors.New("persistence: room claimed by a newer owner")

// Message is one stored message of a room stream. Offsets start at 1 within an epoch
// and are gap-free; the room actor assigns them, the store keeps them.
type Message struct {
	ID       string // server-assigned message id ("m_…")
	Offset   uint64 // position in the room stream, 1-based
	TS       int64  // Unix milliseconds, set by the room actor
	FromID   string // sender user id
	FromName string // sender display name at send time
	Kind     string // "text", "image", "file", "system" or an application kind
	Text     string
	Data     []byte // raw JSON value, nil when absent or null
	ReplyTo  string // message id this one replies to, "" when none
	CID      string // client id used for idempotent sends, "" when none
}

// RoomConfig is the configuration a room carries beside its stream.
type RoomConfig struct {
	Private      bool   // hidden from room listings
	PasswordHash string // bcrypt hash, "" when the room has no password
	MaxMembers   int    // 0: the server default applies
	// NoPresence turns the room's presence off: no member lists, no
	// presence diffs (large broadcast rooms). false, the default of every
	// room stored before it existed, keeps presence on.
	NoPresence bool
}

// RoomState is what a room actor needs to resume its stream.
type RoomState struct {
	Room       string
	Epoch      string // changes only when the room's history is lost or erased
	LastOffset uint64 // 0 for an empty stream
	Config     RoomConfig
	Created    bool // true when OpenRoom or ClaimRoom created the room just now
	// Fence is the token of this claim on the room: greater than every fence
	// handed out for the room before. Appends carry it (see Claim).
	Fence uint64
	// Owner is the node this claim was made for: the node ClaimRoom was
	// called with, "" for OpenRoom's claims.
	Owner string
}

// Claim is what one owner of a room writes under: the epoch and the fence
// token OpenRoom or ClaimRoom handed it.
type Claim struct {
	Epoch string
	Fence uint64
}

// Claim returns the claim a writer holding s appends under.
func (s RoomState) Claim() Claim { return Claim{Epoch: s.Epoch, Fence: s.Fence} }

// ReadQuery selects messages of one room. At most one of After and Before is set;
// with neither, the latest Limit messages are selected. Results are always in
// ascending offset order.
type ReadQuery struct {
	After  uint64 // exclusive lower bound: offsets > After, the oldest Limit of them
	Before uint64 // exclusive upper bound: offsets < Before, the newest Limit of them
	Limit  int    // at most this many messages; must be > 0
	// Kind, when not "", selects only messages of that kind: the page holds
	// at most Limit of them, and More tells whether more of them exist.
	Kind string
}

// ReadResult is one page of a room's stream.
type ReadResult struct {
	Messages []Message
	More     bool // messages exist beyond this page in its direction
}

// DedupEntry records a client id already used by a user in a room, with the
// original acknowledgement it must replay.
type DedupEntry struct {
	UserID string
	CID    string
	MsgID  string
	Offset uint64
	TS     int64
}

// RoomInfo is a room as listed by the store.
type RoomInfo struct {
	Room       string
	Epoch      string
	LastOffset uint64
	Config     RoomConfig
	// Owner is the node of the room's latest claim: "" when the room was
	// never claimed or last claimed by OpenRoom. Whether the owner is still
	// alive is for its lease to tell (see LeaseStore).
	Owner string
}

// Store keeps room streams, room configuration and client sessions.
// Implementations are safe for concurrent use by many rooms; calls for one
// room are issued serially by its room actor's store lane, except Trim and
// OldestOffset, which a retention runner may issue beside them.
type Store interface {
	SessionStore
	LeaseStore
	DocStore

	// OpenRoom returns the room's stored state, creating the room with a fresh
	// epoch (and Created set) when it does not exist. It claims the room for
	// the caller unconditionally, whoever owns it: the returned Fence is
	// greater than every fence handed out for the room before, so the appends
	// of every earlier claim now fail with ErrFenced. The claim has no owner
	// (Owner ""): OpenRoom is for servers that are the store's only node;
	// nodes of a cluster use ClaimRoom.
	OpenRoom(ctx context.Context, room string) (RoomState, error)
	// ClaimRoom is OpenRoom for a node of a cluster: it claims the room for
	// node (Owner node, a new greater Fence, the room created when missing),
	// but only when the room has no owner, node owns it already, or its
	// owner's lease is missing or expired by the store's clock. The check
	// and the claim are one atomic step, so of nodes racing for a room at
	// most one wins. Otherwise it claims nothing and fails with an
	// *OwnedError (wrapping ErrOwned) naming the owner. A node CheckNode
	// rejects fails with ErrInvalidLease. ClaimRoom does not look at node's
	// own lease: a node should renew it before claiming, or other nodes may
	// take the room at once.
	ClaimRoom(ctx context.Context, room, node string) (RoomState, error)
	// Append stores msgs atomically (all or none) in the room's stream under
	// the claim. Offsets must continue the stream without gaps
	// (ErrOffsetMismatch); the claim's epoch must be the room's
	// (ErrEpochMismatch) and its fence the room's latest (ErrFenced).
	Append(ctx context.Context, room string, c Claim, msgs []Message) error
	// Read returns a page of the room's stream as ReadQuery describes.
	Read(ctx context.Context, room string, q ReadQuery) (ReadResult, error)
	// RecentCIDs returns the dedup entries of the latest window messages of the
	// room that carried a client id, oldest first.
	RecentCIDs(ctx context.Context, room string, window int) ([]DedupEntry, error)
	// Trim deletes the oldest messages of the room's stream that req
	// selects, at most req.Limit of them, and returns how many it deleted.
	// It deletes a prefix of the retained stream: oldest first, stopping at
	// the first message that does not match (so a message with a late
	// timestamp protects the newer ones behind it, and the retained stream
	// stays gap-free), and at the first document update the room's
	// snapshot does not cover (see DocStore). It never deletes the room itself and leaves
	// LastOffset alone: later appends continue the stream, and offsets are
	// never reused. Trimming an unknown room deletes nothing and returns 0,
	// as an unknown room reads as an empty stream. A request CheckTrim
	// rejects fails with ErrInvalidTrim.
	Trim(ctx context.Context, room string, req TrimRequest) (int, error)
	// OldestOffset returns the offset of the room's oldest retained message:
	// 0 for an empty stream (every message trimmed, or none appended) and
	// for an unknown room. Messages below it were trimmed; a reader asking
	// for offsets after o < OldestOffset-1 has missed some.
	OldestOffset(ctx context.Context, room string) (uint64, error)
	// ConfigureRoom creates or updates the room's configuration; created reports
	// whether the room did not exist before.
	ConfigureRoom(ctx context.Context, room string, cfg RoomConfig) (created bool, err error)
	// LookupRoom returns the room's state without creating it, or ErrNoSuchRoom.
	LookupRoom(ctx context.Context, room string) (RoomInfo, error)
	// ListRooms returns every room the store knows, ordered by name.
	ListRooms(ctx context.Context) ([]RoomInfo, error)
	// DeleteRoom erases the room, its configuration and its history. A room
	// opened again under that name starts a new epoch.
	DeleteRoom(ctx context.Context, room string) error
	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}
