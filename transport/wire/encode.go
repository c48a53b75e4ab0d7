package wire

import (
	"bytes"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/persistence"
)

// Encoder turns outbound frames into compact JSON as ../../PROTOCOL.md shows them. It
// implements actors.Encoder; the zero value is ready to use.
type Encoder struct{}

var _ actors.Encoder = Encoder{}

// Encode returns f as one JSON object in a new buffer sized for it. A frame type
// this package does not know becomes an internal error frame.
func (Encoder) Encode(f actors.Frame) []byte {
	return Append(make([]byte, 0, sizeHint(f)), f)
}

// Append appends the JSON encoding of f to dst and returns the extended buffer.
// Frames may be passed as values or pointers; the output is valid JSON for any
// field contents (invalid UTF-8 in strings becomes U+FFFD, a Data that is not
// valid JSON becomes null).
func Append(dst []byte, f actors.Frame) []byte {
	switch v := f.(type) {
	case actors.Welcome:
		return appendWelcome(dst, &v)
	case *actors.Welcome:
		return appendWelcome(dst, v)
	case actors.Joined:
		return appendJoined(dst, &v)
	case *actors.Joined:
		return appendJoined(dst, v)
	case actors.Left:
		return appendLeft(dst, &v)
	case *actors.Left:
		return appendLeft(dst, v)
	case actors.Ack:
		return appendAck(dst, &v)
	case *actors.Ack:
		return appendAck(dst, v)
	case actors.MessagePush:
		return appendMessagePush(dst, &v)
	case *actors.MessagePush:
		return appendMessagePush(dst, v)
	case actors.BatchPush:
		return appendBatch(dst, &v)
	case *actors.BatchPush:
		return appendBatch(dst, v)
	case actors.PresenceReply:
		return appendPresence(dst, &v)
	case *actors.PresenceReply:
		return appendPresence(dst, v)
	case actors.PresenceDiff:
		return appendPresenceDiff(dst, &v)
	case *actors.PresenceDiff:
		return appendPresenceDiff(dst, v)
	case actors.TypingPush:
		return appendTyping(dst, &v)
	case *actors.TypingPush:
		return appendTyping(dst, v)
	case actors.SignalPush:
		return appendSignal(dst, &v)
	case *actors.SignalPush:
		return appendSignal(dst, v)
	case actors.HistoryReply:
		return appendHistory(dst, &v)
	case *actors.HistoryReply:
		return appendHistory(dst, v)
	case actors.RoomsReply:
		return appendRooms(dst, &v)
	case *actors.RoomsReply:
		return appendRooms(dst, v)
	case actors.DirectPush:
		return appendDirect(dst, &v)
	case *actors.DirectPush:
		return appendDirect(dst, v)
	case actors.Pong:
		return appendPong(dst, &v)
	case *actors.Pong:
		return appendPong(dst, v)
	case actors.Refreshed:
		return appendRefreshed(dst, &v)
	case *actors.Refreshed:
		return appendRefreshed(dst, v)
	case actors.Notify:
		return appendNotify(dst, &v)
	case *actors.Notify:
		return appendNotify(dst, v)
	case actors.SystemPush:
		return appendSystem(dst, &v)
	case *actors.SystemPush:
		return appendSystem(dst, v)
	case actors.RoomClosed:
		return appendRoomClosed(dst, &v)
	case *actors.RoomClosed:
		return appendRoomClosed(dst, v)
	case actors.ErrorFrame:
		return appendError(dst, &v)
	case *actors.ErrorFrame:
		return appendError(dst, v)
	case actors.DocSyncReply:
		return appendDocSync(dst, &v)
	case *actors.DocSyncReply:
		return appendDocSync(dst, v)
	case actors.DocSnapshotReply:
		return appendDocSnapshot(dst, &v)
	case *actors.DocSnapshotReply:
		return appendDocSnapshot(dst, v)
	}
	return appendError(dst, &actors.ErrorFrame{Code: actors.CodeInternal, Message: "server cannot encode this frame"})
}

// sizeHint estimates the encoded size of f so Encode allocates once.
func sizeHint(f actors.Frame) int {
	const base = 160
	switch v := f.(type) {
	case actors.MessagePush:
		return base + messageHint(v.Msg)
	case *actors.MessagePush:
		return base + messageHint(v.Msg)
	case actors.BatchPush:
		return base + messagesHint(v.Msgs)
	case *actors.BatchPush:
		return base + messagesHint(v.Msgs)
	case actors.Joined:
		return base + messagesHint(v.Messages) + 64*len(v.Members)
	case *actors.Joined:
		return base + messagesHint(v.Messages) + 64*len(v.Members)
	case actors.HistoryReply:
		return base + messagesHint(v.Msgs)
	case *actors.HistoryReply:
		return base + messagesHint(v.Msgs)
	case actors.PresenceReply:
		return base + 80*len(v.Members)
	case actors.PresenceDiff:
		return base + 64*(len(v.Joins)+len(v.Leaves)) + statesHint(v.States)
	case actors.SignalPush:
		return base + len(v.Room) + len(v.User.ID) + len(v.User.Name) + len(v.Conn) + len(v.Key) + len(v.Data)
	case actors.RoomsReply:
		return base + 112*len(v.Rooms)
	case actors.DirectPush:
		return base + len(v.Text) + len(v.Data) + 64
	case actors.Notify:
		return base + len(v.Data) + len(v.Event)
	case actors.ErrorFrame:
		return base + len(v.Message)
	case actors.DocSyncReply:
		return base + docSyncHint(&v)
	}
	return 256
}

func messageHint(m *persistence.Message) int {
	if m == nil {
		return 8
	}
	return 160 + len(m.ID) + len(m.FromID) + len(m.FromName) + len(m.Kind) + len(m.Text) + len(m.Data) + len(m.ReplyTo)
}

func messagesHint(ms []persistence.Message) int {
	n := 2
	for i := range ms {
		n += messageHint(&ms[i])
	}
	return n
}

// AppendMessage appends the protocol's msg object for m:
// {"id","offset","ts","from":{"id","name"},"kind","text","data","reply_to"}, with
// data null when m has none and reply_to null when empty. A nil m appends null.
func AppendMessage(dst []byte, m *persistence.Message) []byte {
	if m == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, `{"id":`...)
	dst = AppendString(dst, m.ID)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendUint(dst, m.Offset, 10)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, m.TS, 10)
	dst = append(dst, `,"from":{"id":`...)
	dst = AppendString(dst, m.FromID)
	dst = append(dst, `,"name":`...)
	dst = AppendString(dst, m.FromName)
	dst = append(dst, `},"kind":`...)
	dst = AppendString(dst, m.Kind)
	dst = append(dst, `,"text":`...)
	dst = AppendString(dst, m.Text)
	dst = append(dst, `,"data":`...)
	dst = AppendRaw(dst, m.Data)
	dst = append(dst, `,"reply_to":`...)
	if m.ReplyTo == "" {
		dst = append(dst, "null"...)
	} else {
		dst = AppendString(dst, m.ReplyTo)
	}
	return append(dst, '}')
}

func appendMessages(dst []byte, ms []persistence.Message) []byte {
	dst = append(dst, '[')
	for i := range ms {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendMessage(dst, &ms[i])
	}
	return append(dst, ']')
}

// appendHead appends {"type":"<t>" and, when id is not 0, ,"id":<id>.
func appendHead(dst []byte, head string, id int64) []byte {
	dst = append(dst, head...)
	if id != 0 {
		dst = append(dst, `,"id":`...)
		dst = strconv.AppendInt(dst, id, 10)
	}
	return dst
}

func appendUser(dst []byte, u actors.UserRef) []byte {
	dst = append(dst, `{"id":`...)
	dst = AppendString(dst, u.ID)
	dst = append(dst, `,"name":`...)
	dst = AppendString(dst, u.Name)
	return append(dst, '}')
}

func appendUsers(dst []byte, us []actors.UserRef) []byte {
	dst = append(dst, '[')
	for i := range us {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendUser(dst, us[i])
	}
	return append(dst, ']')
}

func appendWelcome(dst []byte, v *actors.Welcome) []byte {
	dst = appendHead(dst, `{"type":"welcome"`, v.ID)
	dst = append(dst, `,"session":`...)
	dst = AppendString(dst, v.Session)
	dst = append(dst, `,"user":`...)
	dst = appendUser(dst, v.User)
	dst = append(dst, `,"resumed":`...)
	dst = strconv.AppendBool(dst, v.Resumed)
	dst = append(dst, `,"heartbeat":{"interval_ms":`...)
	dst = strconv.AppendInt(dst, v.HeartbeatMS, 10)
	dst = append(dst, `,"timeout_ms":`...)
	dst = strconv.AppendInt(dst, v.TimeoutMS, 10)
	dst = append(dst, `},"limits":{"frame_bytes":`...)
	dst = strconv.AppendInt(dst, int64(v.FrameBytes), 10)
	dst = append(dst, `,"rate_per_s":`...)
	dst = appendFloat(dst, v.RatePerS)
	if v.SignalRatePerS > 0 {
		dst = append(dst, `,"signal_rate_per_s":`...)
		dst = appendFloat(dst, v.SignalRatePerS)
	}
	dst = append(dst, `},"server_time":`...)
	dst = strconv.AppendInt(dst, v.ServerTime, 10)
	if v.Conn != "" {
		dst = append(dst, `,"conn":`...)
		dst = AppendString(dst, v.Conn)
	}
	return append(dst, '}')
}

func appendJoined(dst []byte, v *actors.Joined) []byte {
	dst = appendHead(dst, `{"type":"joined"`, v.ID)
	dst = append(dst, `,"room":`...)
	dst = AppendString(dst, v.Room)
	dst = append(dst, `,"epoch":`...)
	dst = AppendString(dst, v.Epoch)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendUint(dst, v.Offset, 10)
	dst = append(dst, `,"recovered":`...)
	dst = strconv.AppendBool(dst, v.Recovered)
	dst = append(dst, `,"members":`...)
	dst = appendUsers(dst, v.Members)
	dst = append(dst, `,"messages":`...)
	dst = appendMessages(dst, v.Messages)
	if len(v.States) > 0 {
		dst = append(dst, `,"states":`...)
		dst = appendStateChanges(dst, v.States)
	}
	return append(dst, '}')
}

func appendLeft(dst []byte, v *actors.Left) []byte {
	dst = appendHead(dst, `{"type":"left"`, v.ID)
	dst = append(dst, `,"room":`...)
	dst = AppendString(dst, v.Room)
	return append(dst, '}')
}

func appendAck(dst []byte, v *actors.Ack) []byte {
	dst = appendHead(dst, `{"type":"ack"`, v.ID)
	if v.Room != "" {
		dst = append(dst, `,"room":`...)
		dst = AppendString(dst, v.Room)
		dst = append(dst, `,"msg_id":`...)
		dst = AppendString(dst, v.MsgID)
		dst = append(dst, `,"offset":`...)
		dst = strconv.AppendUint(dst, v.Offset, 10)
	}
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, v.TS, 10)
	if v.Room != "" {
		dst = append(dst, `,"dup":`...)
		dst = strconv.AppendBool(dst, v.Dup)
	}
	return append(dst, '}')
}

func appendMessagePush(dst []byte, v *actors.MessagePush) []byte {
	dst = append(dst, `{"type":"message","room":`...)
	dst = AppendString(dst, v.Room)
	dst = append(dst, `,"msg":`...)
	dst = AppendMessage(dst, v.Msg)
	return append(dst, '}')
}

func appendBatch(dst []byte, v *actors.BatchPush) []byte {
	dst = append(dst, `{"type":"batch","room":`...)
	dst = AppendString(dst, v.Room)
	dst = append(dst, `,"msgs":`...)
	dst = appendMessages(dst, v.Msgs)
	return append(dst, '}')
}

func appendPresence(dst []byte, v *actors.PresenceReply) []byte {
	dst = appendHead(dst, `{"type":"presence"`, v.ID)
	dst = append(dst, `,"room":`...)
	dst = AppendString(dst, v.Room)
	dst = append(dst, `,"members":[`...)
	for i := range v.Members {
		m := &v.Members[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"id":`...)
		dst = AppendString(dst, m.ID)
		dst = append(dst, `,"name":`...)
		dst = AppendString(dst, m.Name)
		dst = append(dst, `,"conns":`...)
		dst = strconv.AppendInt(dst, int64(m.Conns), 10)
		if len(m.States) > 0 {
			dst = append(dst, `,"states":`...)
			dst = appendConnStates(dst, m.States)
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

func appendPresenceDiff(dst []byte, v *actors.PresenceDiff) []byte {
	dst = append(dst, `{"type":"presence_diff","room":`...)
	dst = AppendString(dst, v.Room)
	dst = append(dst, `,"joins":`...)
	dst = appendUsers(dst, v.Joins)
	dst = append(dst, `,"leaves":`...)
	dst = appendUsers(dst, v.Leaves)
	if len(v.States) > 0 {
		dst = append(dst, `,"states":`...)
		dst = appendStateChanges(dst, v.States)
	}
	return append(dst, '}')
}

func appendTyping(dst []byte, v *actors.TypingPush) []byte {
	dst = append(dst, `{"type":"typing","room":`...)
	dst = AppendString(dst, v.Room)
	dst = append(dst, `,"user":`...)
	dst = appendUser(dst, v.User)
	dst = append(dst, `,"on":`...)
	dst = strconv.AppendBool(dst, v.On)
	return append(dst, '}')
}

func appendHistory(dst []byte, v *actors.HistoryReply) []byte {
	dst = appendHead(dst, `{"type":"history"`, v.ID)
	dst = append(dst, `,"room":`...)
	dst = AppendString(dst, v.Room)
	dst = append(dst, `,"msgs":`...)
	dst = appendMessages(dst, v.Msgs)
	dst = append(dst, `,"more":`...)
	dst = strconv.AppendBool(dst, v.More)
	return append(dst, '}')
}

func appendRooms(dst []byte, v *actors.RoomsReply) []byte {
	dst = appendHead(dst, `{"type":"rooms"`, v.ID)
	dst = append(dst, `,"rooms":[`...)
	for i := range v.Rooms {
		r := &v.Rooms[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"room":`...)
		dst = AppendString(dst, r.Room)
		dst = append(dst, `,"members":`...)
		dst = strconv.AppendInt(dst, int64(r.Members), 10)
		dst = append(dst, `,"private":`...)
		dst = strconv.AppendBool(dst, r.Private)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

func appendDirect(dst []byte, v *actors.DirectPush) []byte {
	dst = append(dst, `{"type":"direct","from":`...)
	dst = appendUser(dst, v.From)
	dst = append(dst, `,"text":`...)
	dst = AppendString(dst, v.Text)
	dst = append(dst, `,"data":`...)
	dst = AppendRaw(dst, v.Data)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, v.TS, 10)
	return append(dst, '}')
}

func appendPong(dst []byte, v *actors.Pong) []byte {
	dst = appendHead(dst, `{"type":"pong"`, v.ID)
	dst = append(dst, `,"server_time":`...)
	dst = strconv.AppendInt(dst, v.ServerTime, 10)
	return append(dst, '}')
}

func appendRefreshed(dst []byte, v *actors.Refreshed) []byte {
	dst = appendHead(dst, `{"type":"refreshed"`, v.ID)
	dst = append(dst, `,"exp":`...)
	dst = strconv.AppendInt(dst, v.Exp, 10)
	return append(dst, '}')
}

func appendNotify(dst []byte, v *actors.Notify) []byte {
	dst = append(dst, `{"type":"notify","event":`...)
	dst = AppendString(dst, v.Event)
	dst = append(dst, `,"data":`...)
	dst = AppendRaw(dst, v.Data)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, v.TS, 10)
	return append(dst, '}')
}

func appendSystem(dst []byte, v *actors.SystemPush) []byte {
	dst = append(dst, `{"type":"system","room":`...)
	dst = AppendString(dst, v.Room)
	dst = append(dst, `,"event":`...)
	dst = AppendString(dst, v.Event)
	dst = append(dst, `,"text":`...)
	dst = AppendString(dst, v.Text)
	return append(dst, '}')
}

func appendRoomClosed(dst []byte, v *actors.RoomClosed) []byte {
	dst = append(dst, `{"type":"room_closed","room":`...)
	dst = AppendString(dst, v.Room)
	dst = append(dst, `,"reason":`...)
	dst = AppendString(dst, v.Reason)
	return append(dst, '}')
}

func appendError(dst []byte, v *actors.ErrorFrame) []byte {
	dst = appendHead(dst, `{"type":"error"`, v.ID)
	dst = append(dst, `,"code":`...)
	dst = AppendString(dst, v.Code)
	dst = append(dst, `,"message":`...)
	dst = AppendString(dst, v.Message)
	return append(dst, '}')
}

// appendFloat writes f as encoding/json does; NaN and infinities, which JSON
// cannot hold, become 0.
func appendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, '0')
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' { // e-09 → e-9
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// maxRawDepth bounds the nesting of raw data values the encoder passes through,
// far above the protocol's 64 levels and far below common parsers' limits.
const maxRawDepth = 1000

// AppendRaw appends the raw JSON value raw, or null when raw is empty. A raw that
// is not exactly one valid JSON value nested at most 1000 levels also becomes null; whitespace outside
// strings is dropped and invalid UTF-8 inside strings becomes U+FFFD.
func AppendRaw(dst, raw []byte) []byte {
	if len(raw) == 0 {
		return append(dst, "null"...)
	}
	v, ok := scanValue(raw, maxRawDepth)
	switch {
	case !ok:
		return append(dst, "null"...)
	case v.flags&(flagSpace|flagBadUTF8) != 0:
		return appendCompact(dst, raw)
	}
	return append(dst, raw...)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string literal: quotes, backslashes and
// control characters escaped, U+2028 and U+2029 escaped (for JavaScript
// consumers), invalid UTF-8 replaced by U+FFFD.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += n
			continue
		}
		i += n
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// IsReply reports whether frame, as Append writes frames, answers a request
// (its head carries an id: {"type":"…","id":…) rather than being a push.
// A reply goes to one connection; a push may be broadcast to many.
func IsReply(frame []byte) bool {
	const head = `{"type":"`
	if !bytes.HasPrefix(frame, []byte(head)) {
		return false
	}
	end := bytes.IndexByte(frame[len(head):], '"') // frame types hold no quote or escape
	if end < 0 {
		return false
	}
	return bytes.HasPrefix(frame[len(head)+end+1:], []byte(`,"id":`))
}
