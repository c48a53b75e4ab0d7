package actors

import (
	"context"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
)

// heartbeatShard is the parent and supervisor of a shard of connection actors.
// Once per heartbeat interval it stops each welcomed connection that sent
// nothing within the idle timeout (close 4000) and pings the others (those
// open for an interval at least: a new connection is pinged an interval
// after it opened at the earliest, as it would be by a plain ticker). A
// connection actor that panics is stopped and its socket closed with 1011;
// its siblings are untouched.
//
// The pings are spread over the interval, not sent all at once: the shard's
// children are dealt round-robin into heartbeatSlots slots, each slot comes
// due at its own phase of the interval, and the phases of the engine's shards
// interleave. Pinging every connection in one instant queued thousands of
// ping frames (and then their pongs) in front of the messages being
// delivered, a latency spike of hundreds of milliseconds once per interval
// at 10,000 connections.
type heartbeatShard struct {
	env      *env
	self     *actor.PID
	children map[string]*shardChild // by connection actor id
	ticker   clockwork.Ticker
	stop     chan struct{}
	done     chan struct{}
	closed   bool // closeConns ran: no new connections

	index, shards int                       // this shard's place among the engine's shards
	slotDue       [heartbeatSlots]time.Time // when each slot is next checked and pinged
	nextSlot      int                       // the slot the next child joins
}

// heartbeatSlots is how many parts of a shard's connections are checked and
// pinged at different times within one heartbeat interval.
const heartbeatSlots = 16

type shardChild struct {
	pid      *actor.PID
	peer     Peer
	welcomed bool
	user     string    // set once welcomed
	closing  bool      // closed by a drain round
	slot     int       // which of the shard's slots it is pinged with
	opened   time.Time // spawned: its first ping comes an interval later
}

// closeConns asks a shard to stop taking connections and close up to Max of
// the connections it supervises (all of them when Max <= 0). Done receives how
// many are left open.
type closeConns struct {
	Code   int
	Reason string
	Max    int
	Done   chan<- int
}

// newHeartbeatProps makes shard index of shards: the index sets the phase
// of its pings within the interval.
func newHeartbeatProps(e *env, index, shards int) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &heartbeatShard{env: e, children: make(map[string]*shardChild), index: index, shards: max(shards, 1)}
	})
}

// Receive implements actor.Actor.
func (h *heartbeatShard) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		h.self = ctx.Self()
		h.startTicker()
	case *actor.Stopping, *actor.Restarting:
		h.stopTicker()
	case *spawnConn:
		if h.closed {
			m.Reply <- nil
			return
		}
		pid := ctx.SpawnPrefix(newConnProps(h.env, m.Peer, m.Info), "conn/")
		h.children[pid.Id] = &shardChild{pid: pid, peer: m.Peer, slot: h.nextSlot, opened: h.env.clock.Now()}
		h.nextSlot = (h.nextSlot + 1) % heartbeatSlots
		m.Reply <- pid
	case *connWelcomed:
		if c, ok := h.children[m.Conn.Id]; ok {
			c.welcomed, c.user = true, m.User
		}
	case *actor.Terminated:
		delete(h.children, m.Who.Id)
	case *heartbeatTick:
		h.tick()
	case *closeConns:
		m.Done <- h.closeConns(m)
	case *killConns:
		m.Done <- h.killConns(ctx, m.Max, m.User)
	case *countConns:
		m.Done <- h.welcomed()
	}
}

func (h *heartbeatShard) closeConns(m *closeConns) (left int) {
	h.closed = true
	n := 0
	for _, c := range h.children {
		if c.closing {
			continue
		}
		if m.Max > 0 && n >= m.Max {
			left++
			continue
		}
		c.closing = true
		c.peer.Close(m.Code, m.Reason)
		n++
	}
	return left
}

// killConns makes up to max welcomed connection actors (of user, if set)
// panic; HandleFailure then closes their sockets with 1011.
func (h *heartbeatShard) killConns(ctx actor.Context, max int, user string) int {
	n := 0
	for _, c := range h.children {
		if n >= max {
			break
		}
		if c.welcomed && !c.closing && (user == "" || c.user == user) {
			c.closing = true
			ctx.Send(c.pid, &crashConn{})
			n++
		}
	}
	return n
}

func (h *heartbeatShard) welcomed() int {
	n := 0
	for _, c := range h.children {
		if c.welcomed && !c.closing {
			n++
		}
	}
	return n
}

// tick checks and pings the children of every slot that has come due (all
// of them when the clock jumped a whole interval, as a fake clock does).
func (h *heartbeatShard) tick() {
	now := h.env.clock.Now()
	var due [heartbeatSlots]bool
	anyDue := false
	for i, at := range h.slotDue {
		if !at.After(now) {
			due[i], anyDue = true, true
			h.slotDue[i] = at.Add(h.env.cfg.HeartbeatInterval)
			if !h.slotDue[i].After(now) {
				h.slotDue[i] = now.Add(h.env.cfg.HeartbeatInterval)
			}
		}
	}
	if !anyDue {
		return
	}
	for _, c := range h.children {
		if !due[c.slot] {
			continue
		}
		if c.welcomed && now.Sub(c.peer.LastActive()) > h.env.cfg.IdleTimeout {
			h.env.metrics.HeartbeatTimeouts.Inc()
			c.peer.Close(CloseIdle, "heartbeat timeout")
			continue
		}
		if now.Sub(c.opened) >= h.env.cfg.HeartbeatInterval {
			c.peer.Ping()
		}
	}
}

// HandleFailure implements actor.SupervisorStrategy for the shard's children.
func (h *heartbeatShard) HandleFailure(_ *actor.ActorSystem, supervisor actor.Supervisor, child *actor.PID,
	_ *actor.RestartStatistics, reason interface{}, _ interface{}) {
	why := failureReason(reason)
	h.env.metrics.ActorCrashes.WithLabelValues("conn", why).Inc()
	level := slog.LevelError
	if why == "drill" {
		level = slog.LevelWarn // on purpose: worth a line, not an alert
	}
	h.env.log.Log(context.Background(), level, "connection actor panicked; closing its socket", "conn", child.Id, "reason", why, slog.Any("panic", reason))
	if c, ok := h.children[child.Id]; ok {
		c.peer.Close(CloseInternal, "internal error")
	}
	supervisor.StopChildren(child)
}

// scheduleSlots sets the slots' first due times, at this shard's phases
// within the interval after now.
func (h *heartbeatShard) scheduleSlots(now time.Time) {
	step := h.env.cfg.HeartbeatInterval / time.Duration(heartbeatSlots*h.shards)
	for i := range h.slotDue {
		h.slotDue[i] = now.Add(time.Duration(i*h.shards+h.index+1) * step)
	}
}

// startTicker schedules the slots and ticks often enough to serve each
// slot on time.
func (h *heartbeatShard) startTicker() {
	interval := h.env.cfg.HeartbeatInterval
	h.scheduleSlots(h.env.clock.Now())
	period := interval / heartbeatSlots
	if period <= 0 {
		period = interval
	}
	h.ticker = h.env.clock.NewTicker(period)
	h.stop = make(chan struct{})
	h.done = make(chan struct{})
	root, self, ticker, stop, done := h.env.root, h.self, h.ticker, h.stop, h.done
	go func() {
		defer close(done)
		for {
			select {
			case <-ticker.Chan():
				root.Send(self, &heartbeatTick{})
			case <-stop:
				return
			}
		}
	}()
}

func (h *heartbeatShard) stopTicker() {
	if h.ticker == nil {
		return
	}
	h.ticker.Stop()
	close(h.stop)
	<-h.done
	h.ticker = nil
}
