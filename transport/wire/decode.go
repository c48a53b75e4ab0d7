package wire

import (
	"math"
	"strconv"

	"github.com/troupe-chat/troupe/actors"
)

// Limits bound what Decode accepts. A zero field means its default.
type Limits struct {
	MaxTextBytes int // longest text of send and direct, in bytes (DefaultMaxTextBytes)
	MaxCIDBytes  int // longest cid of send, in bytes (DefaultMaxCIDBytes)
	MaxDepth     int // deepest JSON nesting, the frame object counting as 1 (DefaultMaxDepth)
	HistoryMax   int // largest history.limit (DefaultHistoryMax)
	// MaxSignalBytes bounds a signal's data, compact (DefaultMaxSignalBytes).
	MaxSignalBytes int
	// MaxStateBytes bounds a presence_set's state, compact
	// (DefaultMaxStateBytes).
	MaxStateBytes int
}

func (l Limits) withDefaults() Limits {
	if l.MaxTextBytes <= 0 {
		l.MaxTextBytes = DefaultMaxTextBytes
	}
	if l.MaxCIDBytes <= 0 {
		l.MaxCIDBytes = DefaultMaxCIDBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.HistoryMax <= 0 {
		l.HistoryMax = DefaultHistoryMax
	}
	if l.MaxSignalBytes <= 0 {
		l.MaxSignalBytes = DefaultMaxSignalBytes
	}
	if l.MaxStateBytes <= 0 {
		l.MaxStateBytes = DefaultMaxStateBytes
	}
	return l
}

// Known top-level fields of inbound frames.
const (
	fType = iota
	fID
	fToken
	fName
	fSession
	fRoom
	fPassword
	fSince
	fHistory
	fKind
	fText
	fData
	fReplyTo
	fCID
	fOn
	fBefore
	fAfter
	fLimit
	fTo
	fKey
	fState
	fOffset
	numFields
)

// fieldNames are the JSON keys of the known fields, by index.
var fieldNames = [numFields]string{
	fType: "type", fID: "id", fToken: "token", fName: "name", fSession: "session",
	fRoom: "room", fPassword: "password", fSince: "since", fHistory: "history",
	fKind: "kind", fText: "text", fData: "data", fReplyTo: "reply_to", fCID: "cid",
	fOn: "on", fBefore: "before", fAfter: "after", fLimit: "limit", fTo: "to",
	fKey: "key", fState: "state", fOffset: "offset",
}

func fieldIndex(key []byte) int {
	switch string(key) { // no allocation: the compiler compares in place
	case "type":
		return fType
	case "id":
		return fID
	case "token":
		return fToken
	case "name":
		return fName
	case "session":
		return fSession
	case "room":
		return fRoom
	case "password":
		return fPassword
	case "since":
		return fSince
	case "history":
		return fHistory
	case "kind":
		return fKind
	case "text":
		return fText
	case "data":
		return fData
	case "reply_to":
		return fReplyTo
	case "cid":
		return fCID
	case "on":
		return fOn
	case "before":
		return fBefore
	case "after":
		return fAfter
	case "limit":
		return fLimit
	case "to":
		return fTo
	case "key":
		return fKey
	case "state":
		return fState
	case "offset":
		return fOffset
	}
	return -1
}

// Fields of join.since.
const (
	sOffset = iota
	sEpoch
	numSinceFields
)

func sinceIndex(key []byte) int {
	switch string(key) {
	case "offset":
		return sOffset
	case "epoch":
		return sEpoch
	}
	return -1
}

// Decode turns one inbound text frame into exactly one command of package actors
// (Hello, Refresh, Join, Leave, Send, Typing, Signal, PresenceSet,
// PresenceQuery, HistoryQuery, RoomsQuery, Direct, Ping, DocUpdate, DocSync,
// DocSnapshot) or an actors.Rejected carrying the protocol error code.
//
// Checks run in this order, the first failing one deciding the answer:
//
//  1. bad_json: not exactly one valid JSON value, not an object, or nested deeper
//     than lim.MaxDepth;
//  2. bad_frame: an id that is not an integer number (not echoed);
//  3. bad_frame: type missing, null or not a string;
//  4. unknown_type;
//  5. bad_frame: a field of this frame type with the wrong JSON type;
//  6. invalid: an id that is not a positive 64-bit integer (not echoed);
//  7. invalid: a field breaking a rule of ../../PROTOCOL.md.
//
// Nesting is counted during the same single pass that validates the JSON, and
// the scan stops at the first container deeper than lim.MaxDepth, so a deep
// payload costs no more than a shallow one and nothing recurses past the limit.
//
// From step 3 on, a valid id is echoed in Rejected.ID. JSON null counts as absent
// for every field. Keys match exactly (case-sensitive); unknown keys are ignored;
// for a duplicate key the last one wins. Every string and byte slice of the result
// is a copy: payload may be reused once Decode returns.
func Decode(payload []byte, lim Limits) actors.Command {
	lim = lim.withDefaults()
	d := decoder{b: payload, lim: lim}
	if r, ok := d.scan(); !ok {
		return r
	}

	// id
	if v := d.f[fID]; v.kind != kindAbsent && v.kind != kindNull {
		if v.kind != kindNumber || v.flags&flagInt == 0 {
			return actors.Rejected{Code: actors.CodeBadFrame, Message: "id must be a positive integer"}
		}
		n, ok := parseUint(payload[v.start:v.end])
		if !ok || n == 0 || n > math.MaxInt64 || v.flags&flagNeg != 0 {
			d.idInvalid = true
		} else {
			d.id = int64(n)
		}
	}

	// type
	t := d.f[fType]
	if t.kind != kindString {
		return d.reject(actors.CodeBadFrame, "type must be a string")
	}
	raw := payload[t.start+1 : t.end-1]
	if t.flags&(flagEscaped|flagBadUTF8) != 0 {
		raw = []byte(unquote(payload[t.start:t.end]))
	}
	switch string(raw) {
	case TypeHello:
		cmd := d.hello()
		if r, ok := cmd.(actors.Rejected); ok {
			r.Hello = true
			return r
		}
		return cmd
	case TypeRefresh:
		return d.refresh()
	case TypeJoin:
		return d.join()
	case TypeLeave:
		return d.leave()
	case TypeSend:
		return d.send()
	case TypeTyping:
		return d.typing()
	case TypeSignal:
		return d.signal()
	case TypePresenceSet:
		return d.presenceSet()
	case TypePresence:
		return d.presence()
	case TypeHistory:
		return d.history()
	case TypeRooms:
		return d.done(actors.RoomsQuery{ID: d.id})
	case TypeDirect:
		return d.direct()
	case TypePing:
		return d.done(actors.Ping{ID: d.id})
	case TypeDocUpdate:
		return d.docUpdate()
	case TypeDocSync:
		return d.docSync()
	case TypeDocSnapshot:
		return d.docSnapshot()
	}
	if len(raw) > 32 {
		raw = raw[:32]
	}
	return d.reject(actors.CodeUnknownType, "unknown frame type "+strconv.Quote(string(raw)))
}

// decoder holds one Decode call's state. Field accessors record the first
// wrong-type and the first rule violation; done picks the answer by priority.
type decoder struct {
	b         []byte
	lim       Limits
	f         [numFields]span
	id        int64
	idInvalid bool
	badFrame  string // first wrong-type message
	invalid   string // first rule violation message
}

// scan validates the payload and records the known top-level fields.
func (d *decoder) scan() (actors.Rejected, bool) {
	s := scanner{b: d.b, maxDepth: d.lim.MaxDepth}
	s.ws()
	object := s.i < len(s.b) && s.b[s.i] == '{'
	var ok bool
	if object {
		_, ok = s.container(1, d.f[:], fieldIndex)
	} else {
		_, ok = s.value(1)
	}
	if ok {
		if s.ws(); s.i != len(s.b) {
			ok = s.fail()
		}
	}
	switch {
	case ok && object:
		return actors.Rejected{}, true
	case ok:
		return actors.Rejected{Code: actors.CodeBadJSON, Message: "frame must be a JSON object"}, false
	case s.err == errDepth:
		return actors.Rejected{Code: actors.CodeBadJSON, Message: "frame nested deeper than " + strconv.Itoa(d.lim.MaxDepth) + " levels"}, false
	}
	return actors.Rejected{Code: actors.CodeBadJSON, Message: "frame is not valid JSON"}, false
}

func (d *decoder) reject(code, msg string) actors.Rejected {
	return actors.Rejected{ID: d.id, Code: code, Message: msg}
}

// done returns cmd unless a field failed, in priority order.
func (d *decoder) done(cmd actors.Command) actors.Command {
	switch {
	case d.badFrame != "":
		return d.reject(actors.CodeBadFrame, d.badFrame)
	case d.idInvalid:
		return actors.Rejected{Code: actors.CodeInvalid, Message: "id must be a positive integer"}
	case d.invalid != "":
		return d.reject(actors.CodeInvalid, d.invalid)
	}
	return cmd
}

func (d *decoder) wrongType(field int, what string) {
	if d.badFrame == "" {
		d.badFrame = fieldNames[field] + " must be " + what
	}
}

func (d *decoder) violate(msg string) {
	if d.invalid == "" {
		d.invalid = msg
	}
}

// present reports whether field is present and not null.
func (d *decoder) present(field int) bool {
	k := d.f[field].kind
	return k != kindAbsent && k != kindNull
}

// str returns an optional string field (a copy) and whether it is present.
func (d *decoder) str(field int) (string, bool) {
	v := d.f[field]
	switch v.kind {
	case kindAbsent, kindNull:
		return "", false
	case kindString:
		return stringValue(d.b, v), true
	}
	d.wrongType(field, "a string")
	return "", false
}

// boolean returns an optional boolean field and whether it is present.
func (d *decoder) boolean(field int) (val, ok bool) {
	switch d.f[field].kind {
	case kindAbsent, kindNull:
		return false, false
	case kindTrue:
		return true, true
	case kindFalse:
		return false, true
	}
	d.wrongType(field, "a boolean")
	return false, false
}

// uint returns an optional non-negative integer field and whether it is present
// and valid.
func (d *decoder) uint(b []byte, v span, name string) (uint64, bool) {
	switch v.kind {
	case kindAbsent, kindNull:
		return 0, false
	case kindNumber:
		if v.flags&flagInt == 0 {
			break
		}
		n, ok := parseUint(b[v.start:v.end])
		switch {
		case v.flags&flagNeg != 0 && n != 0:
			d.violate(name + " must not be negative")
		case !ok:
			d.violate(name + " is out of range")
		default:
			return n, true
		}
		return 0, false
	}
	if d.badFrame == "" {
		d.badFrame = name + " must be an integer"
	}
	return 0, false
}

// parseUint parses an integer literal the scanner accepted, ignoring a leading
// minus; ok is false when it does not fit 64 bits.
func parseUint(lit []byte) (uint64, bool) {
	if len(lit) > 0 && lit[0] == '-' {
		lit = lit[1:]
	}
	var n uint64
	for _, c := range lit {
		if n > (math.MaxUint64-9)/10 {
			if n > math.MaxUint64/10 || uint64(c-'0') > math.MaxUint64-n*10 {
				return 0, false
			}
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// raw returns an optional raw JSON field as a compact copy, nil when absent or null.
func (d *decoder) raw(field int) []byte {
	v := d.f[field]
	if v.kind == kindAbsent || v.kind == kindNull {
		return nil
	}
	src := d.b[v.start:v.end]
	if v.flags&(flagSpace|flagBadUTF8) == 0 {
		return append(make([]byte, 0, len(src)), src...)
	}
	return appendCompact(make([]byte, 0, len(src)+8), src)
}

// room returns the required room field.
func (d *decoder) room() string {
	r, ok := d.str(fRoom)
	switch {
	case !ok:
		d.violate("room is required")
	case !ValidRoom(r):
		d.violate("room must match ^[A-Za-z0-9_.:-]{1,64}$")
	}
	return r
}

// kind returns the optional kind field; the protocol's own kinds come without
// an allocation.
func (d *decoder) kind() (string, bool) {
	if v := d.f[fKind]; v.kind == kindString && v.flags == 0 {
		switch string(d.b[v.start+1 : v.end-1]) {
		case DefaultKind:
			return DefaultKind, true
		case "image":
			return "image", true
		case "file":
			return "file", true
		}
	}
	return d.str(fKind)
}

// text returns the optional text field, checked against MaxTextBytes.
func (d *decoder) text() string {
	t, _ := d.str(fText)
	if len(t) > d.lim.MaxTextBytes {
		d.violate("text is longer than " + strconv.Itoa(d.lim.MaxTextBytes) + " bytes")
	}
	return t
}

// ValidRoom reports whether name is a valid room name: ^[A-Za-z0-9_.:-]{1,64}$.
func ValidRoom(name string) bool {
	if len(name) == 0 || len(name) > MaxRoomBytes {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '_' || c == '.' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// ValidKind reports whether kind is a message kind a client may send:
// ^[a-z][a-z0-9_.-]{0,31}$ and not the reserved "system" or "doc".
func ValidKind(kind string) bool {
	if len(kind) == 0 || len(kind) > MaxKindBytes || kind == ReservedKind || kind == DocKind {
		return false
	}
	if c := kind[0]; c < 'a' || c > 'z' {
		return false
	}
	for i := 1; i < len(kind); i++ {
		c := kind[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func (d *decoder) hello() actors.Command {
	var h actors.Hello
	h.ID = d.id
	h.Token, _ = d.str(fToken)
	h.Name, _ = d.str(fName)
	h.Session, _ = d.str(fSession)
	return d.done(h)
}

func (d *decoder) refresh() actors.Command {
	r := actors.Refresh{ID: d.id}
	r.Token, _ = d.str(fToken)
	if r.Token == "" {
		d.violate("token is required")
	}
	return d.done(r)
}

func (d *decoder) join() actors.Command {
	j := actors.Join{ID: d.id, History: -1}
	j.Room = d.room()
	j.Password, _ = d.str(fPassword)
	if v := d.f[fHistory]; v.kind != kindAbsent && v.kind != kindNull {
		if n, ok := d.uint(d.b, v, "history"); ok {
			if n > math.MaxInt32 {
				n = math.MaxInt32 // the room clamps to its maximum anyway
			}
			j.History = int(n)
		}
	}
	switch v := d.f[fSince]; v.kind {
	case kindAbsent, kindNull:
	case kindObject:
		j.Since = d.since(v)
	default:
		d.wrongType(fSince, "an object")
	}
	return d.done(j)
}

// since decodes join.since, an already validated object.
func (d *decoder) since(v span) *actors.Position {
	var f [numSinceFields]span
	s := scanner{b: d.b[:v.end], i: v.start, maxDepth: math.MaxInt}
	s.container(1, f[:], sinceIndex)
	off, offOK := d.uint(d.b, f[sOffset], "since.offset")
	var epoch string
	epochOK := false
	switch e := f[sEpoch]; e.kind {
	case kindAbsent, kindNull:
	case kindString:
		epoch, epochOK = stringValue(d.b, e), true
	default:
		if d.badFrame == "" {
			d.badFrame = "since.epoch must be a string"
		}
	}
	if f[sOffset].kind == kindAbsent || f[sOffset].kind == kindNull || !epochOK {
		d.violate("since needs offset and epoch")
	}
	if !offOK {
		return nil
	}
	return &actors.Position{Offset: off, Epoch: epoch}
}

func (d *decoder) leave() actors.Command {
	l := actors.Leave{ID: d.id}
	l.Room = d.room()
	return d.done(l)
}

func (d *decoder) send() actors.Command {
	s := actors.Send{ID: d.id, Kind: DefaultKind}
	s.Room = d.room()
	if k, ok := d.kind(); ok {
		if !ValidKind(k) {
			d.violate("kind must match ^[a-z][a-z0-9_.-]{0,31}$ and not be \"system\" or \"doc\"")
		}
		s.Kind = k
	}
	s.Text = d.text()
	s.Data = d.raw(fData)
	s.ReplyTo, _ = d.str(fReplyTo)
	if cid, ok := d.str(fCID); ok {
		if len(cid) == 0 || len(cid) > d.lim.MaxCIDBytes {
			d.violate("cid must be 1 to " + strconv.Itoa(d.lim.MaxCIDBytes) + " bytes")
		}
		s.CID = cid
	}
	if s.Text == "" && s.Data == nil {
		d.violate("send needs text or data")
	}
	return d.done(s)
}

func (d *decoder) typing() actors.Command {
	t := actors.Typing{ID: d.id}
	t.Room = d.room()
	on, ok := d.boolean(fOn)
	if !ok {
		d.violate("on is required")
	}
	t.On = on
	return d.done(t)
}

func (d *decoder) presence() actors.Command {
	p := actors.PresenceQuery{ID: d.id}
	p.Room = d.room()
	return d.done(p)
}

func (d *decoder) history() actors.Command {
	h := actors.HistoryQuery{ID: d.id}
	h.Room = d.room()
	h.Before, _ = d.uint(d.b, d.f[fBefore], "before")
	h.After, h.Forward = d.uint(d.b, d.f[fAfter], "after")
	if d.present(fBefore) && d.present(fAfter) {
		d.violate("history takes before or after, not both")
	}
	if n, ok := d.uint(d.b, d.f[fLimit], "limit"); ok {
		if n < 1 || n > uint64(d.lim.HistoryMax) {
			d.violate("limit must be 1 to " + strconv.Itoa(d.lim.HistoryMax))
		}
		h.Limit = int(min(n, uint64(d.lim.HistoryMax)))
	}
	return d.done(h)
}

func (d *decoder) direct() actors.Command {
	m := actors.Direct{ID: d.id}
	to, ok := d.str(fTo)
	if !ok || len(to) == 0 || len(to) > MaxUserIDBytes {
		d.violate("to must be a user id of 1 to " + strconv.Itoa(MaxUserIDBytes) + " bytes")
	}
	m.To = to
	m.Text = d.text()
	m.Data = d.raw(fData)
	if m.Text == "" && m.Data == nil {
		d.violate("direct needs text or data")
	}
	return d.done(m)
}
