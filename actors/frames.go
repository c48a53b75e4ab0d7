package actors

import "github.com/troupe-chat/troupe/persistence"

// Frames the server sends. Actors build these values and turn them into bytes
// through an injected Encoder, once per frame however many sockets receive it.
// They carry no wire details: the transport's codec owns the JSON shape.

// Frame is one outbound protocol frame.
type Frame interface {
	// FrameType is the protocol's "type" of the frame.
	FrameType() string
}

// UserRef names a user as frames show it.
type UserRef struct {
	ID   string
	Name string
}

// PresenceMember is a user in a presence reply with its connection count
// and the presence states its connections set (sorted by connection).
type PresenceMember struct {
	ID     string
	Name   string
	Conns  int
	States []ConnState
}

// ConnState is the presence state one connection set in a room: a JSON
// object, or nil once cleared (in a diff: the connection cleared it or left).
type ConnState struct {
	Conn  string
	State []byte
}

// StateChange is a connection's new presence state in a presence_diff.
type StateChange struct {
	User  UserRef
	Conn  string
	State []byte // nil: cleared
}

// RoomSummary is one entry of a rooms reply.
type RoomSummary struct {
	Room    string
	Members int
	Private bool
}

// Welcome answers a successful hello.
type Welcome struct {
	ID          int64
	Session     string
	User        UserRef
	Resumed     bool
	HeartbeatMS int64
	TimeoutMS   int64
	FrameBytes  int
	RatePerS    float64
	ServerTime  int64
	// Conn names this connection as signals and presence states name it
	// to the others.
	Conn string
	// SignalRatePerS is the signal rate limit (0: none).
	SignalRatePerS float64
}

// Joined answers a join.
type Joined struct {
	ID        int64
	Room      string
	Epoch     string
	Offset    uint64
	Recovered bool
	Members   []UserRef
	Messages  []persistence.Message
	// States are the presence states the room's connections hold (empty
	// when none): the joiner's starting point for presence_diff states.
	States []StateChange
}

// Left answers a leave.
type Left struct {
	ID   int64
	Room string
}

// Ack confirms a stored room message, or (Room empty) a delivered direct message.
type Ack struct {
	ID     int64
	Room   string
	MsgID  string
	Offset uint64
	TS     int64
	Dup    bool
}

// MessagePush delivers one room message.
type MessagePush struct {
	Room string
	Msg  *persistence.Message
}

// BatchPush delivers several room messages in offset order.
type BatchPush struct {
	Room string
	Msgs []persistence.Message
}

// PresenceReply answers a presence query.
type PresenceReply struct {
	ID      int64
	Room    string
	Members []PresenceMember
}

// PresenceDiff tells members who joined and left a room's presence, and
// (States, empty when none) which connections' presence states changed.
type PresenceDiff struct {
	Room   string
	Joins  []UserRef
	Leaves []UserRef
	States []StateChange
}

// SignalPush relays an ephemeral signal of another connection.
type SignalPush struct {
	Room string
	User UserRef
	Conn string // the sending connection, as welcome named it
	Key  string
	Data []byte // raw JSON, nil for null
}

// TypingPush tells members that a user types (or stopped).
type TypingPush struct {
	Room string
	User UserRef
	On   bool
}

// HistoryReply answers a history query.
type HistoryReply struct {
	ID   int64
	Room string
	Msgs []persistence.Message
	More bool
}

// RoomsReply answers a rooms query.
type RoomsReply struct {
	ID    int64
	Rooms []RoomSummary
}

// DirectPush delivers a direct message.
type DirectPush struct {
	From UserRef
	Text string
	Data []byte
	TS   int64
}

// Pong answers a ping.
type Pong struct {
	ID         int64
	ServerTime int64
}

// Refreshed answers a successful refresh.
type Refreshed struct {
	ID  int64
	Exp int64 // Unix seconds; 0 when the new token has no exp
}

// Notify is a server-API notification for a user.
type Notify struct {
	Event string
	Data  []byte
	TS    int64
}

// SystemPush is a server event about a room.
type SystemPush struct {
	Room  string
	Event string
	Text  string
}

// RoomClosed tells a member that the room ended its membership.
type RoomClosed struct {
	Room   string
	Reason string
}

// ErrorFrame reports a failed request.
type ErrorFrame struct {
	ID      int64
	Code    string
	Message string
}

// FrameType implements Frame.
func (Welcome) FrameType() string { return "welcome" }

// FrameType implements Frame.
func (Joined) FrameType() string { return "joined" }

// FrameType implements Frame.
func (Left) FrameType() string { return "left" }

// FrameType implements Frame.
func (Ack) FrameType() string { return "ack" }

// FrameType implements Frame.
func (MessagePush) FrameType() string { return "message" }

// FrameType implements Frame.
func (BatchPush) FrameType() string { return "batch" }

// FrameType implements Frame.
func (PresenceReply) FrameType() string { return "presence" }

// FrameType implements Frame.
func (PresenceDiff) FrameType() string { return "presence_diff" }

// FrameType implements Frame.
func (TypingPush) FrameType() string { return "typing" }

// FrameType implements Frame.
func (SignalPush) FrameType() string { return "signal" }

// FrameType implements Frame.
func (HistoryReply) FrameType() string { return "history" }

// FrameType implements Frame.
func (RoomsReply) FrameType() string { return "rooms" }

// FrameType implements Frame.
func (DirectPush) FrameType() string { return "direct" }

// FrameType implements Frame.
func (Pong) FrameType() string { return "pong" }

// FrameType implements Frame.
func (Refreshed) FrameType() string { return "refreshed" }

// FrameType implements Frame.
func (Notify) FrameType() string { return "notify" }

// FrameType implements Frame.
func (SystemPush) FrameType() string { return "system" }

// FrameType implements Frame.
func (RoomClosed) FrameType() string { return "room_closed" }

// FrameType implements Frame.
func (ErrorFrame) FrameType() string { return "error" }
