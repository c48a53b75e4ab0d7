package bus

import (
	"errors"
	"fmt"
	"strings"
)

// SubjectPrefix is the first token of every troupe subject. Two troupe
// deployments sharing one NATS cluster must use separate NATS accounts.
const SubjectPrefix = "troupe"

// MaxNameBytes bounds the room names and user ids that [RoomSubject] and
// [UserSubject] take. Escaped, a name grows up to three times, and the
// subject must fit a NATS protocol line (4 KB by default).
const MaxNameBytes = 1024

// RoomKind is the third token of a room subject: what flows on it. Kinds are
// lower-case ASCII letters, digits and '-', starting with a letter.
type RoomKind string

// Room subject kinds.
const (
	// RoomCommand carries commands to the node that owns the room.
	RoomCommand RoomKind = "cmd"
	// RoomBroadcast carries the owner's broadcasts, one per batch, to every
	// node with members in the room.
	RoomBroadcast RoomKind = "bcast"
	// RoomFeed carries a room's feed (the actors package's RoomEvent): the
	// owner's batches and beats and every node's presence and typing, to
	// every node with the room active.
	RoomFeed RoomKind = "feed"
)

// UserKind is the third token of a user subject: what flows on it, with the
// same syntax as [RoomKind].
type UserKind string

// User subject kinds.
const (
	// UserDirect carries direct messages to the nodes holding the user's
	// connections.
	UserDirect UserKind = "direct"
	// UserNotify carries notifications for the user.
	UserNotify UserKind = "notify"
	// UserDisconnect tells the nodes holding the user's connections to close
	// them.
	UserDisconnect UserKind = "disconnect"
)

// NodeKind is the third token of a node subject: what flows on it, with the
// same syntax as [RoomKind].
type NodeKind string

// Node subject kinds.
const (
	// NodeCommand carries requests to one node: the sends other nodes
	// forward to the rooms it owns.
	NodeCommand NodeKind = "cmd"
)

// ClusterKind is the third and last token of a cluster-wide subject, with
// the same syntax as [RoomKind].
type ClusterKind string

// Cluster-wide subject kinds.
const (
	// ClusterUsers carries user deliveries (direct messages, notifications,
	// disconnects) that every node subscribes to and answers.
	ClusterUsers ClusterKind = "users"
)

// RoomSubject is the subject "troupe.room.<kind>.<room>" with room escaped by
// [EncodeToken]: valid for any room name, and distinct for distinct names.
func RoomSubject(kind RoomKind, room string) (string, error) {
	return subject("room", string(kind), room)
}

// UserSubject is the subject "troupe.user.<kind>.<user>" with the user id
// escaped by [EncodeToken]: valid for any user id, and distinct for distinct
// ids.
func UserSubject(kind UserKind, user string) (string, error) {
	return subject("user", string(kind), user)
}

// NodeSubject is the subject "troupe.node.<kind>.<node>" with the node id
// escaped by [EncodeToken]: valid for any node id, and distinct for distinct
// ids.
func NodeSubject(kind NodeKind, node string) (string, error) {
	return subject("node", string(kind), node)
}

// ClusterSubject is the subject "troupe.cluster.<kind>", one for the whole
// cluster.
func ClusterSubject(kind ClusterKind) (string, error) {
	if !validKind(string(kind)) {
		return "", fmt.Errorf("bus: cluster subject: invalid kind %q", kind)
	}
	return SubjectPrefix + ".cluster." + string(kind), nil
}

func subject(space, kind, name string) (string, error) {
	if !validKind(kind) {
		return "", fmt.Errorf("bus: %s subject: invalid kind %q", space, kind)
	}
	tok, err := EncodeToken(name)
	if err != nil {
		return "", fmt.Errorf("bus: %s subject (%s): %w", space, kind, err)
	}
	return SubjectPrefix + "." + space + "." + kind + "." + tok, nil
}

func validKind(k string) bool {
	if k == "" || k[0] < 'a' || k[0] > 'z' {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !(k[i] >= 'a' && k[i] <= 'z' || k[i] >= '0' && k[i] <= '9' || k[i] == '-') {
			return false
		}
	}
	return true
}

// literal reports whether b stands for itself in a token: ASCII letters,
// digits and '-'. Every other byte is escaped.
func literal(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-'
}

const hexDigits = "0123456789ABCDEF"

// EncodeToken escapes name into one NATS subject token. ASCII letters,
// digits and '-' are kept; every other byte of name (its UTF-8 bytes, or
// whatever bytes it holds) becomes '_' and two upper-case hex digits, so
// "team.a b" becomes "team_2Ea_20b" and "_" becomes "_5F". The result holds
// no '.', '*', '>', whitespace or non-ASCII byte, cannot begin with '$', and
// the escaping is one-to-one ([DecodeToken] inverts it). name must be 1 to
// [MaxNameBytes] bytes.
func EncodeToken(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty name")
	}
	if len(name) > MaxNameBytes {
		return "", fmt.Errorf("name of %d bytes, over %d", len(name), MaxNameBytes)
	}
	n := 0
	for i := 0; i < len(name); i++ {
		if literal(name[i]) {
			n++
		} else {
			n += 3
		}
	}
	if n == len(name) {
		return name, nil
	}
	var b strings.Builder
	b.Grow(n)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if literal(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('_')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xF])
	}
	return b.String(), nil
}

// DecodeToken inverts [EncodeToken]. It accepts only what EncodeToken
// produces (upper-case hex, no unescaped byte outside letters, digits and
// '-', no escaped letter, digit or '-'), so each name has exactly one token.
func DecodeToken(token string) (string, error) {
	if token == "" {
		return "", errors.New("bus: decode token: empty")
	}
	var b strings.Builder
	b.Grow(len(token))
	for i := 0; i < len(token); i++ {
		c := token[i]
		if literal(c) {
			b.WriteByte(c)
			continue
		}
		if c != '_' || i+2 >= len(token) {
			return "", fmt.Errorf("bus: decode token %q: bad byte at %d", token, i)
		}
		hi, lo := unhex(token[i+1]), unhex(token[i+2])
		if hi < 0 || lo < 0 || literal(byte(hi<<4|lo)) {
			return "", fmt.Errorf("bus: decode token %q: bad escape at %d", token, i)
		}
		b.WriteByte(byte(hi<<4 | lo))
		i += 2
	}
	return b.String(), nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
