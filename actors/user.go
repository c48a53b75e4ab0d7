package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// userActor holds every live connection of one user: direct messages, server
// notifications and server-API disconnects fan out through it. It stops once
// the user has had no connection for the session grace period.
type userActor struct {
	env   *env
	id    string
	self  *actor.PID
	conns map[string]Peer // by connection actor id
	idle  uint64          // token of the pending idle check
}

type userIdle struct{ token uint64 }

// notifyUser pushes a server notification to every connection of a user.
type notifyUser struct {
	Frame Notify
	Reply chan<- int
}

func newUserProps(e *env, id string) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &userActor{env: e, id: id, conns: make(map[string]Peer)}
	}, actor.WithGuardian(e.userStrategy))
}

// Receive implements actor.Actor.
func (u *userActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		u.self = ctx.Self()
		u.env.metrics.UsersActive.Inc()
		u.armIdle()
	case *actor.Restarting:
		u.env.metrics.UsersActive.Dec()
		u.env.metrics.ActorRestarts.WithLabelValues("user").Inc()
	case *actor.Stopped:
		u.env.metrics.UsersActive.Dec()
		u.env.registry.userStopped(u.id, u.self)
	case *attachConn:
		u.conns[m.Conn.Id] = m.Peer
	case *detachConn:
		delete(u.conns, m.Conn.Id)
		u.armIdle()
	case *deliverDirect:
		n := u.fanOut(m.Frame)
		ctx.Send(m.ReplyTo, &directDelivered{ReqID: m.ReqID, TS: m.Frame.TS, Delivered: n})
	case *notifyUser:
		m.Reply <- u.fanOut(m.Frame)
	case *kick:
		for _, p := range u.conns {
			p.Close(m.Code, m.Reason)
		}
	case *userIdle:
		if m.token == u.idle && len(u.conns) == 0 {
			ctx.Poison(u.self)
		}
	}
}

func (u *userActor) fanOut(f Frame) int {
	if len(u.conns) == 0 {
		return 0
	}
	b := u.env.encoder.Encode(f)
	n := 0
	for _, p := range u.conns {
		if p.Enqueue(b) {
			n++
		}
	}
	u.env.metrics.FramesOut.WithLabelValues(f.FrameType()).Add(float64(n))
	return n
}

func (u *userActor) armIdle() {
	if len(u.conns) > 0 {
		return
	}
	u.idle++
	root, self, token := u.env.root, u.self, u.idle
	time.AfterFunc(u.env.cfg.SessionGrace, func() { root.Send(self, &userIdle{token: token}) })
}
