package actors

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
	"golang.org/x/time/rate"
)

// ConnInfo is what the transport knows about a connection when it opens.
type ConnInfo struct {
	RemoteIP    string
	QueryClaims *Claims // verified claims of the upgrade's token query parameter, nil without one
	Opened      time.Time
}

// connPhase is where a connection is in its session.
type connPhase int

const (
	phaseHello   connPhase = iota // waiting for hello
	phaseSession                  // hello accepted, waiting for the sessions actor
	phaseOpen                     // welcomed
	phaseClosed                   // socket gone
)

// Timer messages of a connection.
type (
	helloDeadline struct{}
	tokenExpired  struct{ seq uint64 }
)

// connActor owns one connection's protocol state. All fields are owned by the
// actor's Receive.
type connActor struct {
	env  *env
	peer Peer
	info ConnInfo
	self *actor.PID

	phase     connPhase
	helloID   int64
	queued    []Command // frames that arrived while the session was opening
	session   string
	opening   bool // hello sent to the sessions actor, no answer yet
	user      UserRef
	anonymous bool
	claims    *Claims
	rooms     map[string]*actor.PID // joined or joining

	limiter    *rate.Limiter
	dropSecond int64 // the last second in which a frame was rate-limited
	dropStreak int   // consecutive seconds with drops

	signals       *rate.Limiter // signal and presence_set frames; nil: unlimited
	signalDropSec int64         // the last second a signal drop was answered

	helloTimer clockwork.Timer
	expTimer   clockwork.Timer
	expSeq     uint64
	cleanedUp  bool
}

func newConnProps(e *env, peer Peer, info ConnInfo) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		c := &connActor{env: e, peer: peer, info: info, rooms: make(map[string]*actor.PID)}
		if e.cfg.RateLimit > 0 {
			c.limiter = rate.NewLimiter(rate.Limit(e.cfg.RateLimit), e.cfg.RateBurst)
		}
		if e.cfg.SignalRate > 0 {
			c.signals = rate.NewLimiter(rate.Limit(e.cfg.SignalRate), e.cfg.SignalBurst)
		}
		return c
	})
}

// Receive implements actor.Actor.
func (c *connActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.self = ctx.Self()
		root, self := c.env.root, c.self
		c.helloTimer = c.env.clock.AfterFunc(c.env.cfg.HelloTimeout, func() { root.Send(self, &helloDeadline{}) })
	case *actor.Stopping:
		if c.phase != phaseClosed {
			// Stopped from above (its shard restarted or the engine stopped):
			// the socket must not outlive its actor.
			c.peer.Close(CloseInternal, "connection actor stopped")
		}
		c.cleanup(ctx)
	case SocketClosed:
		c.phase = phaseClosed
		ctx.Stop(c.self)
	case *helloDeadline:
		if c.phase == phaseHello {
			c.peer.Close(ClosePolicy, "no hello before the deadline")
		}
	case *tokenExpired:
		if m.seq == c.expSeq && c.phase != phaseClosed {
			c.peer.Close(CloseTokenExpired, "token expired")
		}
	case *sessionOpened:
		c.welcome(ctx, m)
	case *connAttached:
		c.attached(ctx)
	case *sessionRefused:
		if c.phase == phaseSession {
			c.fail(c.helloID, CodeLimitExceeded, fmt.Sprintf("this user already has %d connections, the most allowed", m.Limit))
			c.peer.Close(CloseTryAgainLater, "too many connections for this user")
		}
	case *takenOver:
		c.peer.Close(CloseTakenOver, "session taken over by a newer connection")
	case *kick:
		c.peer.Close(m.Code, m.Reason)
	case *crashConn:
		panic(errConnCrashDrill)
	case *roomJoined:
		c.rooms[m.Room] = m.PID
	case *roomJoinFailed:
		delete(c.rooms, m.Room)
	case *roomLeft:
		delete(c.rooms, m.Room)
	case *directDelivered:
		if m.Delivered > 0 {
			c.reply(Ack{ID: m.ReqID, TS: m.TS})
		} else {
			c.fail(m.ReqID, CodeNoSuchUser, "the user has no live connection")
		}
	case Command:
		c.frame(ctx, m)
	}
}

// frame handles one decoded client frame.
func (c *connActor) frame(ctx actor.Context, m Command) {
	switch c.phase {
	case phaseClosed:
		return
	case phaseSession:
		c.queued = append(c.queued, m)
		return
	case phaseHello:
		if h, ok := m.(Hello); ok {
			c.hello(ctx, h)
			return
		}
		if r, ok := m.(Rejected); ok && r.Hello {
			c.fail(r.ID, r.Code, r.Message) // a failed hello may be tried again
			return
		}
		c.peer.Close(ClosePolicy, "the first frame must be hello")
		return
	}
	switch m := m.(type) {
	case Signal:
		c.signal(ctx, m)
		return
	case PresenceSet:
		c.presenceSet(ctx, m)
		return
	}
	if !c.allow(m) {
		return
	}
	switch m := m.(type) {
	case Hello:
		c.fail(m.ID, CodeInvalid, "hello was already accepted")
	case Rejected:
		c.fail(m.ID, m.Code, m.Message)
	case Join:
		c.join(m)
	case Leave:
		c.leave(ctx, m)
	case Send:
		if c.env.quiescing.Load() {
			c.fail(m.ID, CodeUnavailable, "the server is shutting down; send again after reconnecting")
			return
		}
		if pid := c.memberOf(m.ID, m.Room, "sending to it"); pid != nil {
			ctx.Send(pid, &publish{Conn: c.self, Peer: c.peer, ReqID: m.ID, From: c.user, Kind: m.Kind,
				Text: m.Text, Data: m.Data, ReplyTo: m.ReplyTo, CID: m.CID, Received: time.Now().UnixNano()})
		}
	case DocUpdate, DocSync, DocSnapshot:
		c.doc(ctx, m)
	case Typing:
		if pid := c.memberOf(m.ID, m.Room, "typing in it"); pid != nil {
			ctx.Send(pid, &typingIn{Conn: c.self, Peer: c.peer, On: m.On, ID: m.ID})
		}
	case PresenceQuery:
		if pid := c.memberOf(m.ID, m.Room, "asking for its presence"); pid != nil {
			ctx.Send(pid, &presenceOf{Conn: c.self, Peer: c.peer, ID: m.ID})
		}
	case HistoryQuery:
		if pid := c.memberOf(m.ID, m.Room, "reading its history"); pid != nil {
			ctx.Send(pid, &historyOf{Conn: c.self, Peer: c.peer, ID: m.ID, Before: m.Before, After: m.After, Forward: m.Forward, Limit: m.Limit})
		}
	case RoomsQuery:
		c.listRooms(m)
	case Direct:
		c.direct(m)
	case Ping:
		c.reply(Pong{ID: m.ID, ServerTime: c.env.clock.Now().UnixMilli()})
	case Refresh:
		c.refresh(ctx, m)
	}
}

// allow applies the rate limit to data frames; over it, the frame is dropped
// with rate_limited, and drops in 5 consecutive seconds close the connection.
func (c *connActor) allow(m Command) bool {
	if c.limiter == nil {
		return true
	}
	now := c.env.clock.Now()
	if c.limiter.AllowN(now, 1) {
		return true
	}
	sec := now.Unix()
	switch {
	case sec == c.dropSecond:
	case sec == c.dropSecond+1:
		c.dropStreak++
	default:
		c.dropStreak = 1
	}
	c.dropSecond = sec
	c.env.metrics.LimitRejections.WithLabelValues("rate").Inc()
	if c.dropStreak >= 5 {
		c.peer.Close(ClosePolicy, "sustained rate limit abuse")
		return false
	}
	c.fail(m.RequestID(), CodeRateLimited, "over the rate limit; the frame was dropped")
	return false
}

func (c *connActor) reply(f Frame) { c.env.sendTo(c.peer, f) }

func (c *connActor) fail(id int64, code, text string) {
	c.env.sendTo(c.peer, ErrorFrame{ID: id, Code: code, Message: text})
}

// ---- session ----

func (c *connActor) hello(ctx actor.Context, m Hello) {
	claims, err := c.authenticate(m.Token)
	if err != nil {
		c.fail(m.ID, CodeUnauthorized, err.Error())
		return
	}
	var name string
	switch {
	case claims != nil:
		name = claims.Subject
		if claims.Name != "" && validName(claims.Name) {
			name = strings.TrimSpace(claims.Name)
		}
	default:
		name = strings.TrimSpace(m.Name)
		if name == "" {
			name = "guest-" + randomHex(3)
		} else if !validName(name) {
			c.fail(m.ID, CodeInvalid, "name must be 1-64 characters without control characters")
			return
		}
	}
	c.claims = claims
	c.anonymous = claims == nil
	c.helloID = m.ID
	c.phase = phaseSession
	c.opening = true
	userID := ""
	if claims != nil {
		userID = claims.Subject
	}
	ctx.Send(c.env.sessions, &openSession{Requested: m.Session, UserID: userID, Name: name, Conn: c.self, Peer: c.peer})
}

// authenticate verifies the hello token, or the upgrade's query token, or
// admits an anonymous user; it returns nil claims for anonymous users.
func (c *connActor) authenticate(token string) (*Claims, error) {
	if token == "" {
		if c.info.QueryClaims != nil {
			return c.info.QueryClaims, nil
		}
		if !c.env.cfg.Anonymous {
			return nil, errText("a token is required")
		}
		return nil, nil
	}
	if c.env.verifier == nil {
		return nil, errText("this server accepts no tokens")
	}
	cl, err := c.env.verifier.Verify(token)
	if err != nil {
		return nil, errText("invalid token")
	}
	return &cl, nil
}

func (c *connActor) welcome(ctx actor.Context, m *sessionOpened) {
	if c.phase != phaseSession {
		return
	}
	c.opening = false
	c.session = m.Session
	c.user = UserRef{ID: m.UserID, Name: m.Name}
	c.helloTimer.Stop()
	cfg := c.env.cfg
	c.armExpiry() // before the welcome: a client that sees it can rely on the timer
	// The shard and the user actor know the connection before the client
	// learns it is welcome (a drill, an API call or a direct message may
	// follow at once): the user actor queues the welcome as it attaches the
	// connection, so no push of its own can overtake it, and tells us with
	// connAttached; frames keep queueing here until then.
	ctx.Send(ctx.Parent(), &connWelcomed{Conn: c.self, User: c.user.ID})
	c.env.registry.ensureUser(c.user.ID)
	c.env.registry.sendUser(c.user.ID, &attachConn{Conn: c.self, Peer: c.peer, User: c.user, Welcome: &Welcome{
		ID: c.helloID, Session: m.Session, User: c.user, Resumed: m.Resumed,
		HeartbeatMS: cfg.HeartbeatInterval.Milliseconds(), TimeoutMS: cfg.IdleTimeout.Milliseconds(),
		FrameBytes: cfg.MaxFrameBytes, RatePerS: cfg.RateLimit, ServerTime: c.env.clock.Now().UnixMilli(),
		Conn: c.env.connTag(c.self), SignalRatePerS: cfg.SignalRate,
	}})
	// Attributes are given per line: a logger kept per connection (slog.With)
	// would cost ~0.5 KiB of every idle connection's memory.
	c.env.log.Debug("session opened", "conn", c.self.Id, "ip", c.info.RemoteIP,
		"user", m.UserID, "session", m.Session, "resumed", m.Resumed)
}

// attached opens the connection once its user actor has it and has queued
// its welcome: the frames that arrived meanwhile are handled, in order.
func (c *connActor) attached(ctx actor.Context) {
	if c.phase != phaseSession || c.session == "" {
		return
	}
	c.phase = phaseOpen
	queued := c.queued
	c.queued = nil
	for _, q := range queued {
		c.frame(ctx, q)
	}
}

// armExpiry closes the connection with 4003 at exp + leeway unless a refresh
// replaces the token first.
func (c *connActor) armExpiry() {
	c.expSeq++
	if c.expTimer != nil {
		c.expTimer.Stop()
	}
	if c.claims == nil || c.claims.Expires.IsZero() {
		return
	}
	d := c.claims.Expires.Add(c.env.cfg.TokenLeeway).Sub(c.env.clock.Now())
	root, self, seq := c.env.root, c.self, c.expSeq
	c.expTimer = c.env.clock.AfterFunc(max(d, 0), func() { root.Send(self, &tokenExpired{seq: seq}) })
}

func (c *connActor) refresh(_ actor.Context, m Refresh) {
	if c.env.verifier == nil {
		c.fail(m.ID, CodeUnauthorized, "this server accepts no tokens")
		return
	}
	cl, err := c.env.verifier.Verify(m.Token)
	if err != nil {
		c.fail(m.ID, CodeUnauthorized, "invalid token")
		return
	}
	if c.anonymous || cl.Subject != c.user.ID {
		c.fail(m.ID, CodeUnauthorized, "the token is for another user")
		return
	}
	c.claims = &cl
	c.armExpiry()
	var exp int64
	if !cl.Expires.IsZero() {
		exp = cl.Expires.Unix()
	}
	c.reply(Refreshed{ID: m.ID, Exp: exp})
}

// ---- rooms ----

func (c *connActor) join(m Join) {
	if _, ok := c.rooms[m.Room]; !ok && len(c.rooms) >= c.env.cfg.MaxRoomsPerConn {
		c.env.metrics.LimitRejections.WithLabelValues("rooms_per_conn").Inc()
		c.fail(m.ID, CodeLimitExceeded, "too many rooms on this connection")
		return
	}
	var tokenRooms []string
	if c.claims != nil {
		tokenRooms = c.claims.Rooms
	}
	c.rooms[m.Room] = c.env.registry.sendRoom(m.Room, &joinRoom{Conn: c.self, Peer: c.peer, User: c.user,
		ReqID: m.ID, Password: m.Password, Since: m.Since, History: m.History, TokenRooms: tokenRooms})
}

func (c *connActor) leave(ctx actor.Context, m Leave) {
	pid, ok := c.rooms[m.Room]
	if !ok {
		c.reply(Left(m))
		return
	}
	ctx.Send(pid, &leaveRoom{Conn: c.self, Peer: c.peer, ReqID: m.ID})
}

// memberOf returns the room's actor when this connection joined (or is joining)
// it; otherwise it answers not_joined.
func (c *connActor) memberOf(id int64, room, doing string) *actor.PID {
	if pid, ok := c.rooms[room]; ok {
		return pid
	}
	c.fail(id, CodeNotJoined, "join "+room+" before "+doing)
	return nil
}

func (c *connActor) listRooms(m RoomsQuery) {
	var out []RoomSummary
	for _, s := range c.env.registry.Rooms() {
		if !s.Private && s.Members > 0 {
			out = append(out, RoomSummary{Room: s.Room, Members: s.Members})
		}
	}
	if out == nil {
		out = []RoomSummary{}
	}
	c.reply(RoomsReply{ID: m.ID, Rooms: out})
}

func (c *connActor) direct(m Direct) {
	ts := c.env.clock.Now().UnixMilli()
	msg := &deliverDirect{Frame: DirectPush{From: c.user, Text: m.Text, Data: m.Data, TS: ts}, ReplyTo: c.self, ReqID: m.ID}
	if c.env.cluster != nil {
		// The recipient's connections may be on any node: ask them all, off
		// this actor's goroutine, and answer when they have.
		e, root, self, d := c.env, c.env.root, c.self, UserDelivery{Kind: DeliverDirect, User: m.To, Direct: msg.Frame}
		c.env.workers.Go(func() {
			n := e.deliverEverywhere(context.Background(), d)
			root.Send(self, &directDelivered{ReqID: msg.ReqID, TS: ts, Delivered: n})
		})
		return
	}
	if !c.env.registry.sendLiveUser(m.To, msg) {
		c.fail(m.ID, CodeNoSuchUser, "the user has no live connection")
	}
}

// cleanup tells everyone who knows this connection that it is gone.
func (c *connActor) cleanup(ctx actor.Context) {
	if c.cleanedUp {
		return
	}
	c.cleanedUp = true
	c.helloTimer.Stop()
	if c.expTimer != nil {
		c.expTimer.Stop()
	}
	for _, pid := range c.rooms {
		ctx.Send(pid, &connGone{Conn: c.self})
	}
	switch {
	case c.session != "":
		ctx.Send(c.env.sessions, &detachSession{Session: c.session, Conn: c.self})
		c.env.registry.sendLiveUser(c.user.ID, &detachConn{Conn: c.self})
	case c.opening:
		// The hello reached the sessions actor but its answer will not reach
		// us: detach whatever session it opened for this connection.
		ctx.Send(c.env.sessions, &detachSession{Conn: c.self})
	}
}

// validName checks a display name: 1–64 characters after trimming, no control
// characters.
func validName(s string) bool {
	s = strings.TrimSpace(s)
	n := utf8.RuneCountInString(s)
	if n < 1 || n > 64 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error (Go 1.24+)
	return hex.EncodeToString(b)
}

type errText string

func (e errText) Error() string { return string(e) }
