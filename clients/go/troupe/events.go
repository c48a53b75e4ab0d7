package troupe

import (
	"encoding/json"
	"time"
)

// Event is anything the client delivers to Options.OnEvent: one of the
// *Event types of this package (values, not pointers).
type Event interface{ event() }

// User is a user as the server names it.
type User struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Member is a user in a room; Conns (presence replies only) counts that
// user's connections in the room, and States (presence replies only) holds
// the presence states its connections set, by connection.
type Member struct {
	ID     string                     `json:"id"`
	Name   string                     `json:"name"`
	Conns  int                        `json:"conns,omitempty"`
	States map[string]json.RawMessage `json:"states,omitempty"`
}

// Position is a point in a room's stream: the last offset seen in an epoch.
type Position struct {
	Epoch  string `json:"epoch"`
	Offset uint64 `json:"offset"`
}

// RoomMessage is a stored message of a room.
type RoomMessage struct {
	Room    string
	ID      string
	Offset  uint64
	TS      int64 // Unix milliseconds
	From    User
	Kind    string
	Text    string
	Data    json.RawMessage // nil when the message has none
	ReplyTo string
}

// Time returns TS as a time.Time.
func (m RoomMessage) Time() time.Time { return time.UnixMilli(m.TS) }

// MessageEvent is a message of a joined room, from a message or batch frame
// or replayed by recovery.
type MessageEvent struct {
	RoomMessage
	Epoch    string
	Replayed bool // it came from a rejoin's recovery, not a live push
}

// PresenceEvent is a presence_diff: users whose first connection joined or
// whose last one left.
type PresenceEvent struct {
	Room   string
	Joins  []User
	Leaves []User
	// States are connections whose presence state changed (nil State:
	// cleared, or the connection left).
	States []ConnState
}

// TypingEvent is another user starting or stopping typing.
type TypingEvent struct {
	Room string
	User User
	On   bool
}

// DirectEvent is a direct message to this user.
type DirectEvent struct {
	From User
	Text string
	Data json.RawMessage
	TS   int64 // Unix milliseconds
}

// NotifyEvent is a notification the server API pushed to this user.
type NotifyEvent struct {
	Event string
	Data  json.RawMessage
	TS    int64 // Unix milliseconds
}

// SystemEvent is a system notice about a room, such as room_restarted.
type SystemEvent struct {
	Room  string
	Event string
	Text  string
}

// RoomClosedEvent says a room was deleted or crashed for good; the client is
// no longer a member and stops tracking it.
type RoomClosedEvent struct {
	Room   string
	Reason string // deleted or crashed
}

// ErrorEvent is an error frame that answers no request of this client, such
// as not_joined for a typing frame.
type ErrorEvent struct {
	Err *ServerError
}

// ConnectedEvent says a connection was welcomed.
type ConnectedEvent struct {
	Session   string
	User      User
	Conn      string // this connection, as signals and presence states name it
	Resumed   bool   // the server kept the earlier session
	Reconnect bool   // false for the first connection
}

// ReconnectingEvent says the client lost its connection, or failed to make
// a new one, and will try again after Delay.
type ReconnectingEvent struct {
	Code    int   // close code of the failure (1006 for network errors)
	Err     error // the failure
	Attempt int   // 1 for the first attempt after a drop
	Delay   time.Duration
}

// RecoveryEvent says a room was joined again after a reconnect. Replayed
// message events follow it. Recovered false means a gap: messages between
// From and the replayed ones (or the whole old epoch) are not delivered.
type RecoveryEvent struct {
	Room         string
	Epoch        string
	Recovered    bool   // every missed message is replayed
	EpochChanged bool   // the room's history was lost; offsets start over
	From         uint64 // the last offset delivered before the reconnect
	To           uint64 // the room's offset when it was joined again
	Replayed     int    // message events that follow
	// Members and States are the room's users and its connections'
	// presence states as the rejoin found them: presence changes during
	// the disconnect were missed, so a view of the room's presence starts
	// over from these.
	Members []Member
	States  []ConnState
}

// RejoinFailedEvent says a room could not be joined again after a reconnect;
// the client no longer tracks it.
type RejoinFailedEvent struct {
	Room string
	Err  error
}

// RecoveredEvent says every room of the client was rejoined after a
// reconnect (those in Gaps without full recovery, those in Failed not at all).
type RecoveredEvent struct {
	Rooms  []string
	Gaps   []string
	Failed []string
}

// ClosedEvent is the last event: the client is closed, by Close (Err nil) or
// by a close it does not reconnect after.
type ClosedEvent struct {
	Code int
	Err  error
}

func (MessageEvent) event()      {}
func (PresenceEvent) event()     {}
func (TypingEvent) event()       {}
func (DirectEvent) event()       {}
func (NotifyEvent) event()       {}
func (SystemEvent) event()       {}
func (RoomClosedEvent) event()   {}
func (ErrorEvent) event()        {}
func (ConnectedEvent) event()    {}
func (ReconnectingEvent) event() {}
func (RecoveryEvent) event()     {}
func (RejoinFailedEvent) event() {}
func (RecoveredEvent) event()    {}
func (ClosedEvent) event()       {}

// Ack is the server's confirmation that a message is stored.
type Ack struct {
	Room   string
	MsgID  string
	Offset uint64
	TS     int64 // Unix milliseconds
	Dup    bool  // an earlier attempt with the same cid was stored
	CID    string
	// Attempts is how many times the message was sent before the ack (1
	// unless it was retried).
	Attempts int
}

// Joined is the reply to Join.
type Joined struct {
	Room      string
	Epoch     string
	Offset    uint64 // the room's last offset; message events follow it
	Recovered bool   // with WithSince: Messages are exactly the missed ones
	Members   []Member
	Messages  []RoomMessage // recent history or recovered messages, oldest first
	States    []ConnState   // the presence states of the room's connections
}

// HistoryPage is one page of a room's history.
type HistoryPage struct {
	Room     string
	Messages []RoomMessage // ascending offsets
	More     bool          // more exist beyond this page in its direction
}

// RoomInfo describes a public room.
type RoomInfo struct {
	Room    string `json:"room"`
	Members int    `json:"members"`
	Private bool   `json:"private"`
}

// Pong is the reply to Ping.
type Pong struct {
	RTT        time.Duration
	ServerTime int64 // Unix milliseconds
}
