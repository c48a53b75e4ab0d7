package troupe

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Message is a message to send to a room.
type Message struct {
	Kind    string          // "" means text
	Text    string          // at most 8 KiB; Text or Data is required
	Data    json.RawMessage // any JSON value
	ReplyTo string          // id of the message this one answers
	// CID is the idempotency key; empty means a fresh random one. Reuse a
	// CID only to resend the same message.
	CID string
}

// Send publishes a message and returns the server's ack. It retries with
// the same cid after timeouts, reconnects (once the room is joined again),
// unavailable and rate_limited, until the ack comes, ctx ends or the server
// refuses it (a *ServerError); the server's dedup makes it exactly-once.
// The sending connection never receives its own messages as events, except
// one stored while its ack was lost: a rejoin replays it like any other.
func (c *Client) Send(ctx context.Context, room string, m Message) (Ack, error) {
	cid := m.CID
	if cid == "" {
		var err error
		if cid, err = newCID(); err != nil {
			return Ack{}, fmt.Errorf("troupe: send to %s: %w", room, err)
		}
	}
	f, sent, err := c.attempts(ctx, request{
		what: "send to " + room,
		room: room,
		frame: func(id int64) any {
			return sendFrame{Type: typeSend, ID: id, Room: room, Kind: m.Kind, Text: m.Text,
				Data: m.Data, ReplyTo: m.ReplyTo, CID: cid}
		},
		want:  typeAck,
		retry: true,
	})
	if err != nil {
		return Ack{CID: cid, Attempts: sent}, fmt.Errorf("troupe: send to %s: %w", room, err)
	}
	return Ack{Room: f.Room, MsgID: f.MsgID, Offset: f.Offset, TS: f.TS, Dup: f.Dup, CID: cid, Attempts: sent}, nil
}

// newCID returns a random client message id.
func newCID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("cid: %w", err)
	}
	return "c-" + hex.EncodeToString(b[:]), nil
}
