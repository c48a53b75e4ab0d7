package actors

import (
	"strings"

	"github.com/asynkron/protoactor-go/actor"
)

// This file holds a connection's collaboration frames, signal and
// presence_set: ephemeral state that is never stored, rate limited apart
// from messages (Config.SignalRate) so a flood of cursor moves never costs
// a client its message budget.

// signal hands a signal to the room, within the signal rate.
func (c *connActor) signal(ctx actor.Context, m Signal) {
	if !c.allowSignal(m) {
		return
	}
	if pid := c.memberOf(m.ID, m.Room, "signalling in it"); pid != nil {
		ctx.Send(pid, &signalIn{Conn: c.self, Peer: c.peer, ID: m.ID, Key: m.Key, Data: m.Data})
	}
}

// presenceSet hands a presence state to the room, within the signal rate.
func (c *connActor) presenceSet(ctx actor.Context, m PresenceSet) {
	if !c.allowSignal(m) {
		return
	}
	if pid := c.memberOf(m.ID, m.Room, "setting its presence state"); pid != nil {
		ctx.Send(pid, &presenceSetIn{Conn: c.self, Peer: c.peer, ID: m.ID, State: m.State})
	}
}

// allowSignal applies the signal rate. A frame over it is dropped; the
// first drop of each second is answered rate_limited (a client moving a
// cursor faster than allowed is not flooded with errors), and signals never
// close a connection for abuse: all they cost the server is their decoding.
func (c *connActor) allowSignal(m Command) bool {
	if c.signals == nil {
		return true
	}
	now := c.env.clock.Now()
	if c.signals.AllowN(now, 1) {
		return true
	}
	c.env.metrics.LimitRejections.WithLabelValues("signal_rate").Inc()
	if sec := now.Unix(); sec != c.signalDropSec {
		c.signalDropSec = sec
		c.fail(m.RequestID(), CodeRateLimited, "over the signal rate limit; signals are dropped until it recovers")
	}
	return false
}

// connTag names a connection to clients, in welcome, signals and presence
// states: its actor's own id, with the node in a cluster ("n1/$42").
func (e *env) connTag(pid *actor.PID) string {
	id := pid.Id
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		id = id[i+1:]
	}
	if e.cluster != nil {
		return SenderTag(e.cluster.Node(), id)
	}
	return id
}
