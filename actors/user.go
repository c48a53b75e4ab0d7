package actors

import (
	"github.com/asynkron/protoactor-go/actor"
)

// userActor holds every live connection of one user: direct messages, server
// notifications and server-API disconnects fan out through it. It stops once
// the user has had no connection for the session grace period.
type userActor struct {
	env     *env
	id      string
	entry   *userEntry // registry slot
	self    *actor.PID
	idle    uint64 // token of the pending idle check
	retired bool   // out of the registry: messages go to the successor
}

type userIdle struct{ token uint64 }

// notifyUser pushes a server notification to every connection of a user.
// (Direct pushes delivered on behalf of another node use it too.)
type notifyUser struct {
	Frame Frame
	Reply chan<- int
}

func newUserProps(e *env, id string, entry *userEntry) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		// The connections live in the registry entry, so a restarted user
		// actor still knows them.
		return &userActor{env: e, id: id, entry: entry}
	}, actor.WithGuardian(e.userStrategy))
}

// Receive implements actor.Actor.
func (u *userActor) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		u.self = ctx.Self()
		u.env.metrics.UsersActive.Inc()
		for _, c := range u.entry.recovering {
			c <- true
		}
		u.entry.recovering = nil
		// A new user's first connection is already on its way (the registry
		// spawns users for a welcomed connection); an idle timer per new user
		// would only hold memory for the grace period. A restarted one may
		// have lost its last connection meanwhile.
		if u.entry.restarted {
			u.armIdle()
		}
		u.entry.restarted = true
	case *actor.Restarting:
		u.env.metrics.UsersActive.Dec()
	case *actor.Stopped:
		u.env.metrics.UsersActive.Dec()
		u.env.registry.retireUser(u.id, u.entry)
	default:
		if u.retired {
			u.forward(ctx.Message())
			return
		}
		u.handle(ctx)
	}
}

func (u *userActor) handle(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *attachConn:
		u.entry.attach(m.Conn.Id, m.Peer)
		if m.Welcome != nil {
			u.env.sendTo(m.Peer, *m.Welcome)
			ctx.Send(m.Conn, &connAttached{})
		}
	case *detachConn:
		u.entry.detach(m.Conn.Id)
		u.armIdle()
	case *deliverDirect:
		n := u.fanOut(m.Frame)
		ctx.Send(m.ReplyTo, &directDelivered{ReqID: m.ReqID, TS: m.Frame.TS, Delivered: n})
	case *notifyUser:
		m.Reply <- u.fanOut(m.Frame)
	case *crashUser:
		if m.Recovered != nil {
			u.entry.recovering = append(u.entry.recovering, m.Recovered)
		}
		panic(errUserCrashDrill)
	case *kick:
		for _, c := range u.entry.conns {
			c.peer.Close(m.Code, m.Reason)
		}
		if m.Reply != nil {
			m.Reply <- len(u.entry.conns)
		}
	case *userIdle:
		if m.token == u.idle && len(u.entry.conns) == 0 {
			// Retire first: whatever reaches this actor from now on is forwarded.
			u.env.registry.retireUser(u.id, u.entry)
			u.retired = true
			ctx.Poison(u.self)
		}
	}
}

// forward hands a message that reached a retired user actor to its successor.
func (u *userActor) forward(msg any) {
	switch m := msg.(type) {
	case *attachConn:
		u.env.registry.sendUser(u.id, m)
	case *deliverDirect:
		if !u.env.registry.sendLiveUser(u.id, m) {
			u.env.root.Send(m.ReplyTo, &directDelivered{ReqID: m.ReqID, TS: m.Frame.TS})
		}
	case *notifyUser:
		if !u.env.registry.sendLiveUser(u.id, m) {
			m.Reply <- 0
		}
	case *kick:
		if !u.env.registry.sendLiveUser(u.id, m) && m.Reply != nil {
			m.Reply <- 0
		}
	case *detachConn:
		u.env.registry.sendLiveUser(u.id, m)
	}
}

func (u *userActor) fanOut(f Frame) int {
	if len(u.entry.conns) == 0 {
		return 0
	}
	b := u.env.encoder.Encode(f)
	n := 0
	for _, c := range u.entry.conns {
		if c.peer.Enqueue(b) {
			n++
		}
	}
	u.env.metrics.FramesOut.WithLabelValues(f.FrameType()).Add(float64(n))
	return n
}

func (u *userActor) armIdle() {
	if len(u.entry.conns) > 0 {
		return
	}
	u.idle++
	root, self, token := u.env.root, u.self, u.idle
	u.env.clock.AfterFunc(u.env.cfg.SessionGrace, func() { root.Send(self, &userIdle{token: token}) })
}
