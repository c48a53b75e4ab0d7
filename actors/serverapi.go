package actors

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/troupe-chat/troupe/persistence"
)

// This file holds the engine calls behind the server HTTP API: publishing
// as the server, notifying and disconnecting users, and reading and managing
// rooms. Each call goes through the actor that owns the state.

// ServerMessage is a message the server API publishes into a room.
type ServerMessage struct {
	From    UserRef // who it is from; the zero value means the server itself
	Kind    string  // "" means "text"
	Text    string
	Data    []byte // raw JSON, nil for none
	ReplyTo string
}

// ErrNoSuchRoom is returned for a room the store does not know.
var ErrNoSuchRoom = &ProtocolError{Code: CodeNoSuchRoom, Message: "no such room"}

// ErrNoSuchUser is returned for a user without a live connection.
var ErrNoSuchUser = &ProtocolError{Code: CodeNoSuchUser, Message: "the user has no live connection"}

// Is makes errors.Is match protocol errors by code.
func (e *ProtocolError) Is(target error) bool {
	t, ok := target.(*ProtocolError)
	return ok && t.Code == e.Code
}

// Publish stores and broadcasts m in room as if a member had sent it,
// creating the room as a join would. It returns once the message is stored.
func (e *Engine) Publish(ctx context.Context, room string, m ServerMessage) (PublishResult, error) {
	if m.From.ID == "" {
		m.From = UserRef{ID: "server", Name: "server"}
	}
	if m.Kind == "" {
		m.Kind = "text"
	}
	reply := make(chan PublishResult, 1)
	e.env.registry.sendRoom(room, &publish{
		From: m.From, Kind: m.Kind, Text: m.Text, Data: m.Data, ReplyTo: m.ReplyTo, Reply: reply,
	})
	select {
	case res := <-reply:
		return res, res.Err
	case <-ctx.Done():
		return PublishResult{}, fmt.Errorf("actors: publish to %s: %w", room, ctx.Err())
	}
}

// Notify pushes a notify frame to every connection of user and returns how
// many got it (ErrNoSuchUser when none). A zero f.TS is stamped with the
// engine clock's current time in Unix milliseconds, as the protocol's notify
// frame carries it.
func (e *Engine) Notify(ctx context.Context, user string, f Notify) (int, error) {
	if f.TS == 0 {
		f.TS = e.env.clock.Now().UnixMilli()
	}
	if e.env.cluster != nil {
		if n := e.env.deliverEverywhere(ctx, UserDelivery{Kind: DeliverNotify, User: user, Notify: f}); n > 0 {
			return n, nil
		}
		return 0, ErrNoSuchUser
	}
	reply := make(chan int, 1)
	if !e.env.registry.sendLiveUser(user, &notifyUser{Frame: f, Reply: reply}) {
		return 0, ErrNoSuchUser
	}
	select {
	case n := <-reply:
		if n == 0 {
			return 0, ErrNoSuchUser
		}
		return n, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("actors: notify %s: %w", user, ctx.Err())
	}
}

// Disconnect closes every connection of user with 4002 (the client does not
// reconnect by itself), on every node of a cluster. It reports ErrNoSuchUser
// when the user has no live actor (on a cluster: no connection anywhere).
func (e *Engine) Disconnect(user, reason string) error {
	if reason == "" {
		reason = "disconnected by the server"
	}
	if e.env.cluster != nil {
		d := UserDelivery{Kind: DeliverDisconnect, User: user, Code: CloseKicked, Reason: reason}
		if e.env.deliverEverywhere(context.Background(), d) == 0 {
			return ErrNoSuchUser
		}
		return nil
	}
	if !e.env.registry.sendLiveUser(user, &kick{Code: CloseKicked, Reason: reason}) {
		return ErrNoSuchUser
	}
	return nil
}

// Room describes one room: its stored state, and its members and restarts
// while it is active. ErrNoSuchRoom when the store does not know it.
func (e *Engine) Room(ctx context.Context, name string) (RoomStats, error) {
	info, err := e.env.store.LookupRoom(ctx, name)
	if errors.Is(err, persistence.ErrNoSuchRoom) {
		return RoomStats{}, ErrNoSuchRoom
	}
	if err != nil {
		return RoomStats{}, fmt.Errorf("actors: look up room %s: %w", name, err)
	}
	return e.withLive(info), nil
}

// RoomList describes every room the store knows, private ones included when
// withPrivate is set, ordered by name.
func (e *Engine) RoomList(ctx context.Context, withPrivate bool) ([]RoomStats, error) {
	infos, err := e.env.store.ListRooms(ctx)
	if err != nil {
		return nil, fmt.Errorf("actors: list rooms: %w", err)
	}
	out := make([]RoomStats, 0, len(infos))
	for _, info := range infos {
		if info.Config.Private && !withPrivate {
			continue
		}
		out = append(out, e.withLive(info))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Room < out[j].Room })
	return out, nil
}

// withLive overlays an active room's own view on its stored state.
// Whether presence is off comes from the stored config just read, which a
// configuration the active room has not applied yet is already in.
func (e *Engine) withLive(info persistence.RoomInfo) RoomStats {
	noPresence := info.Config.NoPresence || e.env.cfg.NoPresenceFor(info.Room)
	if s, ok := e.env.registry.stats(info.Room); ok && s.Epoch != "" {
		s.NoPresence = noPresence
		return s
	}
	return RoomStats{Room: info.Room, Offset: info.LastOffset, Epoch: info.Epoch, Private: info.Config.Private, NoPresence: noPresence}
}

// ConfigureRoom creates or reconfigures a room (password hash, privacy,
// member limit) and tells it if it is active. created reports a new room.
func (e *Engine) ConfigureRoom(ctx context.Context, name string, cfg persistence.RoomConfig) (created bool, err error) {
	created, err = e.env.store.ConfigureRoom(ctx, name, cfg)
	if err != nil {
		return false, fmt.Errorf("actors: configure room %s: %w", name, err)
	}
	e.env.registry.sendActiveRoom(name, &roomConfigured{Config: cfg})
	return created, nil
}

// DeleteRoom erases a room and its history; its members get room_closed
// "deleted", and a room created again under the name starts a new epoch.
func (e *Engine) DeleteRoom(ctx context.Context, name string) error {
	if _, err := e.Room(ctx, name); err != nil {
		return err
	}
	done := make(chan error, 1)
	if !e.env.registry.sendActiveRoom(name, &deleteRoom{Done: done}) {
		if err := e.env.store.DeleteRoom(ctx, name); err != nil {
			return fmt.Errorf("actors: delete room %s: %w", name, err)
		}
		return nil
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("actors: delete room %s: %w", name, ctx.Err())
	}
}

// Presence lists the users in a room (ErrNoSuchRoom for an unknown room).
func (e *Engine) Presence(ctx context.Context, room string) ([]PresenceMember, error) {
	if _, err := e.Room(ctx, room); err != nil {
		return nil, err
	}
	f, err := e.ask(ctx, room, func(reply frameReply) any { return &presenceOf{Peer: reply} })
	if err != nil {
		return nil, err
	}
	return f.(PresenceReply).Members, nil
}

// HistoryPage asks for a page of a room's stream, as the history frame does.
type HistoryPage struct {
	Before, After uint64
	Forward       bool // After was given (after=0 reads from the start)
	Limit         int  // 0: the server's default
}

// History reads a page of a room's stream (ErrNoSuchRoom for an unknown room).
func (e *Engine) History(ctx context.Context, room string, q HistoryPage) (msgs []persistence.Message, more bool, err error) {
	if _, err := e.Room(ctx, room); err != nil {
		return nil, false, err
	}
	f, err := e.ask(ctx, room, func(reply frameReply) any {
		return &historyOf{Peer: reply, Before: q.Before, After: q.After, Forward: q.Forward, Limit: q.Limit}
	})
	if err != nil {
		return nil, false, err
	}
	h := f.(HistoryReply)
	return h.Msgs, h.More, nil
}

// ask sends a query to a room (activating it) and waits for its answer; an
// error frame comes back as a *ProtocolError.
func (e *Engine) ask(ctx context.Context, room string, query func(frameReply) any) (Frame, error) {
	reply := make(frameReply, 1)
	e.env.registry.sendRoom(room, query(reply))
	select {
	case f := <-reply:
		if ef, ok := f.(ErrorFrame); ok {
			return nil, &ProtocolError{Code: ef.Code, Message: ef.Message}
		}
		return f, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("actors: ask room %s: %w", room, ctx.Err())
	}
}

// frameReply is the Outbox of a server-API query: env.sendTo hands the
// room's answer over as a Frame value instead of encoding it.
type frameReply chan Frame

// Enqueue implements Outbox; sendTo never calls it for a frameReply.
func (frameReply) Enqueue([]byte) bool { return false }

// Offer implements Outbox; rooms offer only typing, never to a frameReply.
func (frameReply) Offer([]byte) bool { return false }

// OfferLatest implements Outbox: a query takes no ephemeral frames.
func (frameReply) OfferLatest(string, []byte) bool { return false }
