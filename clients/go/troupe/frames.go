package troupe

import (
	"encoding/json"
	"errors"
	"fmt"
)

// The troupe.v1 frames this client speaks (../../../PROTOCOL.md is the contract):
//
//	client                         server
//	hello{id,token,name,session} → welcome{id,session,user,resumed,heartbeat,limits}
//	join{id,room,password,since,history} → joined{id,room,epoch,offset,recovered,members,messages}
//	leave{id,room}               → left{id,room}
//	send{id,room,kind,text,data,reply_to,cid} → ack{id,room,msg_id,offset,ts,dup}
//	typing{room,on}                (no reply; errors come without id)
//	signal{room,key,data}          (no reply; errors come without id)
//	presence_set{room,state}       (no reply; errors come without id)
//	presence{id,room}            → presence{id,room,members}
//	history{id,room,before|after,limit} → history{id,room,msgs,more}
//	rooms{id}                    → rooms{id,rooms}
//	direct{id,to,text,data}      → ack{id,ts}
//	ping{id}                     → pong{id,server_time}
//	refresh{id,token}            → refreshed{id,exp}
//	doc_update{id,room,data,cid} → ack{id,room,msg_id,offset,ts,dup}
//	doc_sync{id,room,after}      → doc_sync{id,room,snapshot,updates,offset,more,gap}
//	doc_snapshot{id,room,offset,data} → doc_snapshot{id,room,offset,stored}
//	                             ← message, batch, presence_diff, typing, signal, direct,
//	                               notify, system, room_closed (pushed, no id)
//	                             ← error{id?,code,message}

// Frame types.
const (
	typeHello        = "hello"
	typeWelcome      = "welcome"
	typeRefresh      = "refresh"
	typeRefreshed    = "refreshed"
	typeJoin         = "join"
	typeJoined       = "joined"
	typeLeave        = "leave"
	typeLeft         = "left"
	typeSend         = "send"
	typeAck          = "ack"
	typeTyping       = "typing"
	typePresence     = "presence"
	typeHistory      = "history"
	typeRooms        = "rooms"
	typeDirect       = "direct"
	typePing         = "ping"
	typePong         = "pong"
	typeError        = "error"
	typeMessage      = "message"
	typeBatch        = "batch"
	typePresenceDiff = "presence_diff"
	typeNotify       = "notify"
	typeSystem       = "system"
	typeRoomClosed   = "room_closed"
	typeSignal       = "signal"
	typePresenceSet  = "presence_set"
)

// Outbound frames. Each carries its type and, for requests, the id its reply
// will echo.

type helloFrame struct {
	Type    string `json:"type"`
	ID      int64  `json:"id"`
	Token   string `json:"token,omitempty"`
	Name    string `json:"name,omitempty"`
	Session string `json:"session,omitempty"`
}

type refreshFrame struct {
	Type  string `json:"type"`
	ID    int64  `json:"id"`
	Token string `json:"token"`
}

type joinFrame struct {
	Type     string    `json:"type"`
	ID       int64     `json:"id,omitempty"`
	Room     string    `json:"room"`
	Password string    `json:"password,omitempty"`
	Since    *Position `json:"since,omitempty"`
	History  *int      `json:"history,omitempty"`
}

type roomFrame struct { // leave, presence
	Type string `json:"type"`
	ID   int64  `json:"id,omitempty"`
	Room string `json:"room"`
}

type sendFrame struct {
	Type    string          `json:"type"`
	ID      int64           `json:"id"`
	Room    string          `json:"room"`
	Kind    string          `json:"kind,omitempty"`
	Text    string          `json:"text,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	ReplyTo string          `json:"reply_to,omitempty"`
	CID     string          `json:"cid"`
}

type typingFrame struct {
	Type string `json:"type"`
	Room string `json:"room"`
	On   bool   `json:"on"`
}

type historyFrame struct {
	Type   string  `json:"type"`
	ID     int64   `json:"id"`
	Room   string  `json:"room"`
	Before *uint64 `json:"before,omitempty"`
	After  *uint64 `json:"after,omitempty"`
	Limit  int     `json:"limit,omitempty"`
}

type directFrame struct {
	Type string          `json:"type"`
	ID   int64           `json:"id"`
	To   string          `json:"to"`
	Text string          `json:"text,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
}

type idFrame struct { // ping, rooms
	Type string `json:"type"`
	ID   int64  `json:"id"`
}

// inFrame is any inbound frame: the union of every server frame's fields,
// decoded once.
type inFrame struct {
	Type string `json:"type"`
	ID   int64  `json:"id"`

	Code    string `json:"code"`    // error
	Message string `json:"message"` // error

	Session    string `json:"session"` // welcome
	User       User   `json:"user"`    // welcome, typing
	Resumed    bool   `json:"resumed"`
	ServerTime int64  `json:"server_time"` // welcome, pong
	Heartbeat  struct {
		IntervalMS int64 `json:"interval_ms"`
		TimeoutMS  int64 `json:"timeout_ms"`
	} `json:"heartbeat"`
	Limits struct {
		FrameBytes int     `json:"frame_bytes"`
		RatePerS   float64 `json:"rate_per_s"`
	} `json:"limits"`
	Conn string `json:"conn"` // welcome, signal

	Room      string    `json:"room"`
	Epoch     string    `json:"epoch"`  // joined
	Offset    uint64    `json:"offset"` // joined, ack
	Recovered bool      `json:"recovered"`
	Members   []Member  `json:"members"`  // joined, presence
	Messages  []wireMsg `json:"messages"` // joined
	Msg       *wireMsg  `json:"msg"`      // message
	Msgs      []wireMsg `json:"msgs"`     // batch, history
	More      bool      `json:"more"`     // history

	MsgID string `json:"msg_id"` // ack
	TS    int64  `json:"ts"`     // ack, direct, notify
	Dup   bool   `json:"dup"`    // ack

	Joins  []User `json:"joins"`  // presence_diff
	Leaves []User `json:"leaves"` // presence_diff
	On     bool   `json:"on"`     // typing

	States []wireState `json:"states"` // joined, presence_diff
	Key    string      `json:"key"`    // signal

	From  User            `json:"from"` // direct
	Text  string          `json:"text"` // direct, system
	Data  json.RawMessage `json:"data"` // direct, notify
	Event string          `json:"event"`
	// Reason of room_closed.
	Reason string     `json:"reason"`
	Rooms  []RoomInfo `json:"rooms"` // rooms
	Exp    int64      `json:"exp"`   // refreshed

	Snapshot *wireSnapshot `json:"snapshot"` // doc_sync
	Updates  []wireMsg     `json:"updates"`  // doc_sync
	Gap      bool          `json:"gap"`      // doc_sync
	Stored   bool          `json:"stored"`   // doc_snapshot
}

// wireMsg is the protocol's msg object.
type wireMsg struct {
	ID      string          `json:"id"`
	Offset  uint64          `json:"offset"`
	TS      int64           `json:"ts"`
	From    User            `json:"from"`
	Kind    string          `json:"kind"`
	Text    string          `json:"text"`
	Data    json.RawMessage `json:"data"`
	ReplyTo string          `json:"reply_to"`
}

// roomMessage converts m, a message of room.
func (m *wireMsg) roomMessage(room string) RoomMessage {
	return RoomMessage{
		Room: room, ID: m.ID, Offset: m.Offset, TS: m.TS, From: m.From,
		Kind: m.Kind, Text: m.Text, Data: nullToNil(m.Data), ReplyTo: m.ReplyTo,
	}
}

func roomMessages(room string, ms []wireMsg) []RoomMessage {
	out := make([]RoomMessage, len(ms))
	for i := range ms {
		out[i] = ms[i].roomMessage(room)
	}
	return out
}

// nullToNil maps JSON null (and absence) to nil.
func nullToNil(b json.RawMessage) json.RawMessage {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	return b
}

// decodeFrame decodes one inbound text frame.
func decodeFrame(b []byte) (*inFrame, error) {
	f := new(inFrame)
	if err := json.Unmarshal(b, f); err != nil {
		return nil, fmt.Errorf("decode frame: %w", err)
	}
	if f.Type == "" {
		return nil, errors.New("frame without type")
	}
	return f, nil
}

// serverError returns f's error when f is an error frame, else nil.
func (f *inFrame) serverError() error {
	if f.Type != typeError {
		return nil
	}
	return &ServerError{Code: f.Code, Message: f.Message}
}

// Every frame troupe servers write begins with frameHead; a reply's id comes
// right after the type.
const (
	frameHead = `{"type":"`
	replyID   = `,"id":`
)

// isPush reports whether b, an inbound frame, is a push rather than a reply,
// judged from its start as troupe servers write it. A frame in any other form
// is not taken for a push.
func isPush(b []byte) bool {
	if !hasPrefix(b, frameHead) {
		return false
	}
	rest := b[len(frameHead):]
	for i, ch := range rest {
		switch {
		case ch == '"':
			rest = rest[i+1:]
			return hasPrefix(rest, "}") || hasPrefix(rest, ",") && !hasPrefix(rest, replyID)
		case ch != '_' && (ch < 'a' || ch > 'z'):
			return false // not a plain type name
		}
	}
	return false
}

// hasPrefix is bytes.HasPrefix for a string prefix, without allocating.
func hasPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}
