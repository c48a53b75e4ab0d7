package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/persistence"
)

// The wire encoding of what nodes exchange. Every message starts with two
// bytes, the encoding version and the frame type, then the frame's fields in
// a fixed order:
//
//	string, []byte   uvarint length, then the bytes (a 0 length decodes to "" or nil)
//	uint64           uvarint
//	int64, int       zig-zag varint
//	bool, kind       one byte (a bool is 0 or 1)
//	list             uvarint count, then the elements
//
// A decoder refuses another version (errVersion), another frame type, a
// truncated or oversized field, a bad bool and trailing bytes. Every field
// of a struct is written whatever its kind, so a frame round-trips exactly
// (but for nil and empty slices, which both decode to nil). A field added
// later needs a new version; nodes of two versions then refuse each other's
// frames (logged and counted), so a rolling upgrade across versions must
// first teach the old nodes the new version.

// codecVersion is the version this node writes and the only one it reads.
// Version 2 added signals (RoomEvent Conn, Key, Data) and the presence
// states of PresenceMember.
const codecVersion = 2

// frameType is the second byte of a frame: what it holds.
type frameType byte

// The frame types.
const (
	frameFeed       frameType = iota + 1 // actors.RoomEvent
	frameSend                            // actors.RemoteSend
	frameResult                          // actors.RemoteSendResult
	frameUser                            // userRequest
	frameUserAnswer                      // userAnswer
)

// errVersion is the error (wrapped) of a frame of a version this node does
// not read.
var errVersion = errors.New("unknown encoding version")

// errMalformed is the error (wrapped) of a frame that is not well formed.
var errMalformed = errors.New("malformed frame")

// userRequest is a user delivery on the users subject: the publishing node
// (which ignores its own) and the delivery.
type userRequest struct {
	Node string
	D    actors.UserDelivery
}

// userAnswer is a node's answer to a userRequest: how many of the user's
// connections it reached.
type userAnswer struct {
	Node string
	N    int
}

// Encoding.

func appendHeader(b []byte, t frameType) []byte { return append(b, codecVersion, byte(t)) }

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendUserRef(b []byte, u actors.UserRef) []byte {
	return appendString(appendString(b, u.ID), u.Name)
}

func appendMessage(b []byte, m *persistence.Message) []byte {
	b = appendString(b, m.ID)
	b = binary.AppendUvarint(b, m.Offset)
	b = binary.AppendVarint(b, m.TS)
	b = appendString(b, m.FromID)
	b = appendString(b, m.FromName)
	b = appendString(b, m.Kind)
	b = appendString(b, m.Text)
	b = appendBytes(b, m.Data)
	b = appendString(b, m.ReplyTo)
	return appendString(b, m.CID)
}

// appendFeed appends the frame of ev. Node comes first after the kind, so
// feedNode finds it without decoding the rest.
func appendFeed(b []byte, ev *actors.RoomEvent) []byte {
	b = appendHeader(b, frameFeed)
	b = append(b, byte(ev.Kind))
	b = appendString(b, ev.Node)
	b = appendString(b, ev.Epoch)
	b = binary.AppendUvarint(b, ev.Offset)
	b = binary.AppendUvarint(b, ev.Seq)
	b = appendUserRef(b, ev.User)
	b = appendBool(b, ev.On)
	b = binary.AppendUvarint(b, uint64(len(ev.Msgs)))
	for i := range ev.Msgs {
		b = appendMessage(b, &ev.Msgs[i])
	}
	b = binary.AppendUvarint(b, uint64(len(ev.Senders)))
	for _, s := range ev.Senders {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(ev.Users)))
	for _, u := range ev.Users {
		b = appendString(b, u.ID)
		b = appendString(b, u.Name)
		b = binary.AppendVarint(b, int64(u.Conns))
		b = binary.AppendUvarint(b, uint64(len(u.States)))
		for _, st := range u.States {
			b = appendString(b, st.Conn)
			b = appendBytes(b, st.State)
		}
	}
	b = appendString(b, ev.Conn)
	b = appendString(b, ev.Key)
	return appendBytes(b, ev.Data)
}

func appendSend(b []byte, s *actors.RemoteSend) []byte {
	b = appendHeader(b, frameSend)
	b = appendString(b, s.Room)
	b = appendUserRef(b, s.From)
	b = appendString(b, s.Kind)
	b = appendString(b, s.Text)
	b = appendBytes(b, s.Data)
	b = appendString(b, s.ReplyTo)
	b = appendString(b, s.CID)
	return appendString(b, s.Sender)
}

func appendResult(b []byte, r *actors.RemoteSendResult) []byte {
	b = appendHeader(b, frameResult)
	b = appendString(b, r.MsgID)
	b = binary.AppendUvarint(b, r.Offset)
	b = binary.AppendVarint(b, r.TS)
	b = appendBool(b, r.Dup)
	b = appendString(b, r.Code)
	return appendString(b, r.Message)
}

func appendUser(b []byte, r *userRequest) []byte {
	d := &r.D
	b = appendHeader(b, frameUser)
	b = appendString(b, r.Node)
	b = append(b, byte(d.Kind))
	b = appendString(b, d.User)
	b = appendUserRef(b, d.Direct.From)
	b = appendString(b, d.Direct.Text)
	b = appendBytes(b, d.Direct.Data)
	b = binary.AppendVarint(b, d.Direct.TS)
	b = appendString(b, d.Notify.Event)
	b = appendBytes(b, d.Notify.Data)
	b = binary.AppendVarint(b, d.Notify.TS)
	b = binary.AppendVarint(b, int64(d.Code))
	return appendString(b, d.Reason)
}

func appendUserAnswer(b []byte, a *userAnswer) []byte {
	b = appendHeader(b, frameUserAnswer)
	b = appendString(b, a.Node)
	return binary.AppendVarint(b, int64(a.N))
}

// Decoding.

// decoder reads fields off b. The first failure sticks in err and makes
// every later read return a zero value.
type decoder struct {
	b   []byte
	err error
	// arena, when set, is the whole frame as a string, of which shared
	// returns substrings (one allocation for all of a batch's strings).
	arena string
	size  int // len of the whole frame
}

// newDecoder checks the header of frame for type t.
func newDecoder(frame []byte, t frameType) *decoder {
	d := &decoder{b: frame, size: len(frame)}
	switch {
	case len(frame) < 2:
		d.fail("frame of %d bytes", len(frame))
	case frame[0] != codecVersion:
		d.err = fmt.Errorf("%w %d (this node reads %d)", errVersion, frame[0], codecVersion)
	case frameType(frame[1]) != t:
		d.fail("frame type %d, want %d", frame[1], t)
	default:
		d.b = frame[2:]
	}
	return d
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, args...))
	}
}

// finish returns the decoding's error, failing on trailing bytes.
func (d *decoder) finish() error {
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}

func (d *decoder) byte1() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) boolean() bool {
	switch d.byte1() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("bad bool")
	return false
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int {
	v := d.varint()
	if v < math.MinInt || v > math.MaxInt {
		d.fail("int out of range")
		return 0
	}
	return int(v)
}

// raw returns the next length-prefixed field as a slice of the frame.
func (d *decoder) raw() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("field of %d bytes, %d left", n, len(d.b))
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) str() string { return string(d.raw()) }

// shared is str, but a substring of the arena when there is one.
func (d *decoder) shared() string {
	if d.arena == "" {
		return d.str()
	}
	p := d.raw()
	if len(p) == 0 {
		return ""
	}
	end := d.size - len(d.b) // p ends where the rest begins
	return d.arena[end-len(p) : end]
}

// bytes returns the next []byte field, nil when empty. It aliases the frame
// (capacity capped), which the caller must not modify afterwards.
func (d *decoder) bytes() []byte {
	p := d.raw()
	if len(p) == 0 {
		return nil
	}
	return p
}

// count reads a list's length; each element takes at least minBytes bytes, which
// bounds what a hostile count can make the decoder allocate.
func (d *decoder) count(minBytes int) int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if n > uint64(len(d.b)/minBytes) {
		d.fail("list of %d, %d bytes left", n, len(d.b))
		return 0
	}
	return int(n)
}

func (d *decoder) userRef() actors.UserRef {
	return actors.UserRef{ID: d.str(), Name: d.str()}
}

func (d *decoder) message(m *persistence.Message) {
	m.ID = d.shared()
	m.Offset = d.uvarint()
	m.TS = d.varint()
	m.FromID = d.shared()
	m.FromName = d.shared()
	m.Kind = d.shared()
	m.Text = d.shared()
	m.Data = d.bytes()
	m.ReplyTo = d.shared()
	m.CID = d.shared()
}

// Minimum encoded sizes of list elements.
const (
	minMessageBytes = 10 // ten fields of at least a byte
	minSenderBytes  = 1
	minMemberBytes  = 4
	minStateBytes   = 2
)

// feedNode returns the publishing node of a feed frame without decoding the
// rest, aliasing frame.
func feedNode(frame []byte) ([]byte, error) {
	d := newDecoder(frame, frameFeed)
	d.byte1()
	node := d.raw()
	return node, d.err
}

// decodeFeed decodes a feed frame. Data fields alias frame.
func decodeFeed(frame []byte) (actors.RoomEvent, error) {
	d := newDecoder(frame, frameFeed)
	var ev actors.RoomEvent
	ev.Kind = actors.RoomEventKind(d.byte1())
	ev.Node = d.str()
	ev.Epoch = d.str()
	ev.Offset = d.uvarint()
	ev.Seq = d.uvarint()
	ev.User = d.userRef()
	ev.On = d.boolean()
	if n := d.count(minMessageBytes); n > 0 {
		// The strings of a batch's messages and senders live as long as
		// the messages: they share one copy of the frame.
		d.arena = string(frame)
		ev.Msgs = make([]persistence.Message, n)
		for i := range ev.Msgs {
			d.message(&ev.Msgs[i])
		}
	}
	if n := d.count(minSenderBytes); n > 0 {
		ev.Senders = make([]string, n)
		for i := range ev.Senders {
			ev.Senders[i] = d.shared()
		}
	}
	d.arena = ""
	if n := d.count(minMemberBytes); n > 0 {
		ev.Users = make([]actors.PresenceMember, n)
		for i := range ev.Users {
			ev.Users[i] = actors.PresenceMember{ID: d.str(), Name: d.str(), Conns: d.int()}
			if k := d.count(minStateBytes); k > 0 {
				ev.Users[i].States = make([]actors.ConnState, k)
				for j := range ev.Users[i].States {
					ev.Users[i].States[j] = actors.ConnState{Conn: d.str(), State: d.bytes()}
				}
			}
		}
	}
	ev.Conn = d.str()
	ev.Key = d.str()
	ev.Data = d.bytes()
	if err := d.finish(); err != nil {
		return actors.RoomEvent{}, fmt.Errorf("feed event: %w", err)
	}
	return ev, nil
}

// decodeSend decodes a forwarded send. Data aliases frame.
func decodeSend(frame []byte) (actors.RemoteSend, error) {
	d := newDecoder(frame, frameSend)
	s := actors.RemoteSend{
		Room: d.str(), From: d.userRef(), Kind: d.str(), Text: d.str(), Data: d.bytes(),
		ReplyTo: d.str(), CID: d.str(), Sender: d.str(),
	}
	if err := d.finish(); err != nil {
		return actors.RemoteSend{}, fmt.Errorf("forwarded send: %w", err)
	}
	return s, nil
}

func decodeResult(frame []byte) (actors.RemoteSendResult, error) {
	d := newDecoder(frame, frameResult)
	r := actors.RemoteSendResult{
		MsgID: d.str(), Offset: d.uvarint(), TS: d.varint(), Dup: d.boolean(),
		Code: d.str(), Message: d.str(),
	}
	if err := d.finish(); err != nil {
		return actors.RemoteSendResult{}, fmt.Errorf("send result: %w", err)
	}
	return r, nil
}

// decodeUser decodes a user delivery. Data fields alias frame.
func decodeUser(frame []byte) (userRequest, error) {
	d := newDecoder(frame, frameUser)
	var r userRequest
	r.Node = d.str()
	r.D.Kind = actors.UserDeliveryKind(d.byte1())
	r.D.User = d.str()
	r.D.Direct = actors.DirectPush{From: d.userRef(), Text: d.str(), Data: d.bytes(), TS: d.varint()}
	r.D.Notify = actors.Notify{Event: d.str(), Data: d.bytes(), TS: d.varint()}
	r.D.Code = d.int()
	r.D.Reason = d.str()
	if err := d.finish(); err != nil {
		return userRequest{}, fmt.Errorf("user delivery: %w", err)
	}
	return r, nil
}

func decodeUserAnswer(frame []byte) (userAnswer, error) {
	d := newDecoder(frame, frameUserAnswer)
	a := userAnswer{Node: d.str(), N: d.int()}
	if err := d.finish(); err != nil {
		return userAnswer{}, fmt.Errorf("user answer: %w", err)
	}
	return a, nil
}
