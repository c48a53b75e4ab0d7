package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
)

// timerSet owns the timers one room has armed (store retry backoff, idle
// retirement, presence grace), on the engine's clock: tests drive them with
// a fake clock. It lives in the room's shell, so timers armed before a
// restart still fire for the next incarnation (a presence grace must not be
// lost), and every timer not yet fired stops when the room stops for good.
// Only the room actor touches it.
type timerSet struct {
	clock Clock
	next  uint64
	live  map[uint64]clockwork.Timer
}

// timerFired is what an armed timer delivers to its room: the room forgets
// the timer, then handles msg.
type timerFired struct {
	id  uint64
	msg any
}

func newTimerSet(clock Clock) *timerSet {
	return &timerSet{clock: clock, live: make(map[uint64]clockwork.Timer)}
}

// after sends msg to self, wrapped in a timerFired, once d has passed.
func (s *timerSet) after(root *actor.RootContext, self *actor.PID, d time.Duration, msg any) {
	s.next++
	id := s.next
	s.live[id] = s.clock.AfterFunc(d, func() { root.Send(self, &timerFired{id: id, msg: msg}) })
}

// fired forgets a timer that has delivered its message.
func (s *timerSet) fired(id uint64) { delete(s.live, id) }

// stopAll stops every timer that has not fired.
func (s *timerSet) stopAll() {
	for id, t := range s.live {
		t.Stop()
		delete(s.live, id)
	}
}
