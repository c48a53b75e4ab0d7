package troupe

import (
	"context"
	"encoding/json"
	"fmt"
)

// Collaboration frames: signals (ephemeral, latest value per key wins) and
// the connection's presence state in a room.

// Signal sends an ephemeral signal under key (a cursor position, a
// selection) to the room's other connections. data is any JSON value (nil
// for null). Signals are never stored, acknowledged or recovered; the
// server keeps only the latest of each key for a reader that falls behind,
// and drops those over its signal rate. An error arrives as an ErrorEvent.
func (c *Client) Signal(ctx context.Context, room, key string, data json.RawMessage) error {
	cn, err := c.awaitConn(ctx, room, true)
	if err == nil {
		err = cn.write(signalFrame{Type: typeSignal, Room: room, Key: key, Data: data})
	}
	if err != nil {
		return fmt.Errorf("troupe: signal %s in %s: %w", key, room, err)
	}
	return nil
}

// SetPresence sets this connection's presence state in a joined room, a
// JSON object (nil clears it); the room's members see it in presence and
// PresenceEvent.States. The client sets it again after every rejoin, since
// the server forgets a connection's state when the connection ends. An
// error arrives as an ErrorEvent.
func (c *Client) SetPresence(ctx context.Context, room string, state json.RawMessage) error {
	cn, err := c.awaitConn(ctx, room, true)
	if err == nil {
		c.mu.Lock()
		if r := c.rooms[room]; r != nil {
			r.state = nullToNil(state)
		}
		c.mu.Unlock()
		err = cn.write(presenceSetFrame{Type: typePresenceSet, Room: room, State: nullToNil(state)})
	}
	if err != nil {
		return fmt.Errorf("troupe: presence state in %s: %w", room, err)
	}
	return nil
}

// restoreState sends a rejoined room's presence state again.
func (cn *conn) restoreState(room string, state json.RawMessage) {
	if state == nil {
		return
	}
	if err := cn.write(presenceSetFrame{Type: typePresenceSet, Room: room, State: state}); err != nil {
		cn.log.Debug("presence state after rejoin", "room", room, "err", err)
	}
}

type signalFrame struct {
	Type string          `json:"type"`
	Room string          `json:"room"`
	Key  string          `json:"key"`
	Data json.RawMessage `json:"data,omitempty"`
}

type presenceSetFrame struct {
	Type  string          `json:"type"`
	Room  string          `json:"room"`
	State json.RawMessage `json:"state"`
}

// wireState is an entry of the states of joined and presence_diff.
type wireState struct {
	User  User            `json:"user"`
	Conn  string          `json:"conn"`
	State json.RawMessage `json:"state"`
}

func connStates(ws []wireState) []ConnState {
	if len(ws) == 0 {
		return nil
	}
	out := make([]ConnState, len(ws))
	for i, s := range ws {
		out[i] = ConnState{User: s.User, Conn: s.Conn, State: nullToNil(s.State)}
	}
	return out
}

// ConnState is one connection's presence state in a room.
type ConnState struct {
	User  User
	Conn  string          // the connection, as its ConnectedEvent.Conn names it
	State json.RawMessage // a JSON object; nil once cleared or the connection left
}

// SignalEvent is a signal of another connection in a joined room. Under
// load only the latest of each connection and key may arrive.
type SignalEvent struct {
	Room string
	User User
	Conn string
	Key  string
	Data json.RawMessage // nil for null
}

func (SignalEvent) event() {}
