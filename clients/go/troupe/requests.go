package troupe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// request describes one request for do.
type request struct {
	what  string             // for errors and logs, e.g. "join general"
	room  string             // a tracked room to wait for after a reconnect ("" none)
	frame func(id int64) any // the frame, with the attempt's id
	want  string             // the reply's type
	hook  func(*inFrame)     // runs on the read loop with the reply (optional)
	// retry: the request is idempotent, so it is sent again after a timeout,
	// a lost connection, unavailable or rate_limited, until ctx ends.
	// Otherwise it is sent once, and waits for a connection at most
	// RequestTimeout.
	retry bool
}

// do sends a request and waits for its reply.
func (c *Client) do(ctx context.Context, req request) (*inFrame, error) {
	f, _, err := c.attempts(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("troupe: %s: %w", req.what, err)
	}
	return f, nil
}

// attempts sends req until it is answered (or must not be sent again) and
// reports how many times it was sent.
func (c *Client) attempts(ctx context.Context, req request) (_ *inFrame, sent int, _ error) {
	for retries := 0; ; {
		cn, err := c.awaitConn(ctx, req.room, !req.retry)
		if err != nil {
			return nil, sent, err
		}
		id := c.newID()
		sent++
		f, err := cn.roundTrip(ctx, id, req.frame(id), req.hook, c.opts.RequestTimeout)
		if err == nil {
			if f.Type != req.want {
				return nil, sent, fmt.Errorf("unexpected reply %q", f.Type)
			}
			return f, sent, nil
		}
		if ctx.Err() != nil || !req.retry {
			return nil, sent, err
		}
		switch {
		case errors.Is(err, ErrDisconnected):
			c.log.Debug("retrying on the next connection", "request", req.what, "err", err)
			if err := c.awaitReplaced(ctx, cn); err != nil {
				return nil, sent, err
			}
		case errors.Is(err, ErrRequestTimeout):
			c.log.Debug("retrying", "request", req.what, "err", err)
		case retryableCode(ErrorCode(err)):
			c.log.Debug("retrying after backoff", "request", req.what, "err", err)
			if err := c.sleep(ctx, c.opts.Retry.Delay(retries)); err != nil {
				return nil, sent, err
			}
			retries++
		default:
			return nil, sent, err
		}
	}
}

// awaitReplaced waits until cn is no longer the client's current connection:
// it ended and the client noticed. A request whose connection went away is
// sent again only then, so many of them never spin on a connection that is
// going away (starving the goroutine that would replace it).
func (c *Client) awaitReplaced(ctx context.Context, cn *conn) error {
	for {
		c.mu.Lock()
		cur, ch, closed := c.cur, c.changed, c.closedErr
		c.mu.Unlock()
		if cur != cn || closed != nil {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for a connection: %w", ctx.Err())
		}
	}
}

// awaitConn waits for a welcomed connection and, when room is tracked, for
// the room to be joined again on it. bounded limits the wait to
// RequestTimeout.
func (c *Client) awaitConn(ctx context.Context, room string, bounded bool) (*conn, error) {
	var timeout <-chan time.Time
	for {
		c.mu.Lock()
		if err := c.closedErr; err != nil {
			c.mu.Unlock()
			return nil, err
		}
		cn, ch := c.cur, c.changed
		ready := cn != nil
		if r := c.rooms[room]; ready && r != nil && !r.ready {
			ready = false
		}
		c.mu.Unlock()
		if ready {
			return cn, nil
		}
		if bounded && timeout == nil {
			t := time.NewTimer(c.opts.RequestTimeout)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for a connection: %w", ctx.Err())
		case <-timeout:
			return nil, fmt.Errorf("%w: no connection within %s", ErrDisconnected, c.opts.RequestTimeout)
		}
	}
}

// JoinOption adjusts a join request.
type JoinOption func(*joinFrame)

// WithPassword joins a password-protected room; the client keeps the
// password to rejoin after reconnects.
func WithPassword(password string) JoinOption {
	return func(f *joinFrame) { f.Password = password }
}

// WithHistory asks for n recent messages in Joined.Messages (server default
// 50, at most 200).
func WithHistory(n int) JoinOption {
	return func(f *joinFrame) { f.History = &n }
}

// WithSince asks the server to recover the messages after p into
// Joined.Messages (Joined.Recovered says whether it could).
func WithSince(p Position) JoinOption {
	return func(f *joinFrame) { f.Since = &p }
}

// Join joins a room. Messages after Joined.Offset arrive as MessageEvents;
// Joined.Messages are not delivered as events. The client rejoins the room
// after every reconnect until Leave.
func (c *Client) Join(ctx context.Context, room string, opts ...JoinOption) (Joined, error) {
	frame := joinFrame{Type: typeJoin, Room: room}
	for _, o := range opts {
		o(&frame)
	}
	f, err := c.do(ctx, request{
		what: "join " + room,
		frame: func(id int64) any {
			frame.ID = id
			return frame
		},
		want:  typeJoined,
		hook:  func(f *inFrame) { c.joined(frame.Password, f) },
		retry: true,
	})
	if err != nil {
		return Joined{}, err
	}
	return Joined{
		Room: f.Room, Epoch: f.Epoch, Offset: f.Offset, Recovered: f.Recovered,
		Members: f.Members, Messages: roomMessages(f.Room, f.Messages), States: connStates(f.States),
	}, nil
}

// Leave leaves a room; the client stops tracking it at once.
func (c *Client) Leave(ctx context.Context, room string) error {
	c.mu.Lock()
	delete(c.rooms, room)
	c.notifyLocked()
	c.mu.Unlock()
	_, err := c.do(ctx, request{
		what:  "leave " + room,
		frame: func(id int64) any { return roomFrame{Type: typeLeave, ID: id, Room: room} },
		want:  typeLeft,
		retry: true,
	})
	return err
}

// Direct sends a direct message to every connection of user to and returns
// its timestamp (Unix milliseconds). It is not retried: the server keeps no
// dedup for direct messages.
func (c *Client) Direct(ctx context.Context, to, text string, data json.RawMessage) (int64, error) {
	f, err := c.do(ctx, request{
		what:  "direct to " + to,
		frame: func(id int64) any { return directFrame{Type: typeDirect, ID: id, To: to, Text: text, Data: data} },
		want:  typeAck,
	})
	if err != nil {
		return 0, err
	}
	return f.TS, nil
}

// Typing tells the room's other users that this one started (on) or
// stopped typing. The server does not reply; an error arrives as an
// ErrorEvent.
func (c *Client) Typing(ctx context.Context, room string, on bool) error {
	cn, err := c.awaitConn(ctx, room, true)
	if err == nil {
		err = cn.write(typingFrame{Type: typeTyping, Room: room, On: on})
	}
	if err != nil {
		return fmt.Errorf("troupe: typing in %s: %w", room, err)
	}
	return nil
}

// Presence returns the users in a room with their connection counts.
func (c *Client) Presence(ctx context.Context, room string) ([]Member, error) {
	f, err := c.do(ctx, request{
		what:  "presence of " + room,
		room:  room,
		frame: func(id int64) any { return roomFrame{Type: typePresence, ID: id, Room: room} },
		want:  typePresence,
		retry: true,
	})
	if err != nil {
		return nil, err
	}
	return f.Members, nil
}

// HistoryQuery selects a page of history. The zero value is the latest
// page of the server's default size.
type HistoryQuery struct {
	Before  uint64 // page backwards from this offset (exclusive); 0: from the end
	After   uint64 // with Forward: page forwards from this offset (exclusive)
	Forward bool
	Limit   int // 0: server default (50); at most 200
}

// History returns one page of a joined room's messages.
func (c *Client) History(ctx context.Context, room string, q HistoryQuery) (HistoryPage, error) {
	f, err := c.do(ctx, request{
		what: "history of " + room,
		room: room,
		frame: func(id int64) any {
			h := historyFrame{Type: typeHistory, ID: id, Room: room, Limit: q.Limit}
			switch {
			case q.Forward:
				h.After = &q.After
			case q.Before > 0:
				h.Before = &q.Before
			}
			return h
		},
		want:  typeHistory,
		retry: true,
	})
	if err != nil {
		return HistoryPage{}, err
	}
	return HistoryPage{Room: f.Room, Messages: roomMessages(f.Room, f.Msgs), More: f.More}, nil
}

// Rooms lists the server's public rooms.
func (c *Client) Rooms(ctx context.Context) ([]RoomInfo, error) {
	f, err := c.do(ctx, request{
		what:  "rooms",
		frame: func(id int64) any { return idFrame{Type: typeRooms, ID: id} },
		want:  typeRooms,
		retry: true,
	})
	if err != nil {
		return nil, err
	}
	return f.Rooms, nil
}

// Ping measures a round trip on the current connection.
func (c *Client) Ping(ctx context.Context) (Pong, error) {
	var start time.Time
	f, err := c.do(ctx, request{
		what: "ping",
		frame: func(id int64) any {
			start = time.Now()
			return idFrame{Type: typePing, ID: id}
		},
		want: typePong,
	})
	if err != nil {
		return Pong{}, err
	}
	return Pong{RTT: time.Since(start), ServerTime: f.ServerTime}, nil
}

// SetToken replaces the client's token: it is sent in a refresh now (when
// connected; the server's refusal is returned) and in every later hello. New
// credentials also let the client reconnect after a close for policy (1008),
// a kick (4002) or an expired token (4003).
func (c *Client) SetToken(ctx context.Context, token string) error {
	c.mu.Lock()
	if err := c.closedErr; err != nil {
		c.mu.Unlock()
		return fmt.Errorf("troupe: refresh token: %w", err)
	}
	c.token = token
	c.tokenGen++
	connected := c.cur != nil
	c.mu.Unlock()
	if !connected {
		return nil
	}
	_, err := c.do(ctx, request{
		what:  "refresh token",
		frame: func(id int64) any { return refreshFrame{Type: typeRefresh, ID: id, Token: token} },
		want:  typeRefreshed,
	})
	return err
}
