package actors

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/troupe-chat/troupe/persistence"
)

// budgetStrategy restarts a failed actor one-for-one within a restart budget
// (max failures within window) and stops it beyond the budget. The first
// restart in a window is immediate; later ones wait an exponential backoff
// (backoff, 2×backoff, … up to backoffMax) while the actor's mailbox keeps
// its queued messages. Every failure is counted by actor kind and reason.
type budgetStrategy struct {
	env        *env
	kind       string // actor kind in metrics and logs: room, user, sessions
	max        int
	window     time.Duration
	backoff    time.Duration
	backoffMax time.Duration
	onStop     func() // called when the budget is exhausted; may be nil
}

var _ actor.SupervisorStrategy = (*budgetStrategy)(nil)

// HandleFailure implements actor.SupervisorStrategy.
func (s *budgetStrategy) HandleFailure(_ *actor.ActorSystem, supervisor actor.Supervisor, child *actor.PID,
	rs *actor.RestartStatistics, reason interface{}, _ interface{}) {
	why := failureReason(reason)
	s.env.metrics.ActorCrashes.WithLabelValues(s.kind, why).Inc()
	rs.Fail()
	n := rs.NumberOfFailures(s.window)
	level := slog.LevelWarn
	if why != "drill" {
		level = slog.LevelError
	}
	if n > s.max {
		rs.Reset()
		s.env.log.Error("actor crashed past its restart budget; stopping it", "kind", s.kind, "actor", child.Id,
			"failures", n, "window", s.window, "reason", why, slog.Any("panic", reason))
		if s.onStop != nil {
			s.onStop()
		}
		supervisor.StopChildren(child)
		return
	}
	d := s.delay(n)
	s.env.log.Log(context.Background(), level, "actor crashed; restarting it", "kind", s.kind, "actor", child.Id, "failures", n,
		"backoff", d, "reason", why, slog.Any("panic", reason))
	s.env.metrics.ActorRestarts.WithLabelValues(s.kind, why).Inc()
	if d <= 0 {
		supervisor.RestartChildren(child)
		return
	}
	time.AfterFunc(d, func() { supervisor.RestartChildren(child) })
}

// delay is the backoff before the n-th restart within the window.
func (s *budgetStrategy) delay(n int) time.Duration {
	if n <= 1 || s.backoff <= 0 {
		return 0
	}
	d := s.backoff
	for i := 2; i < n && d < s.backoffMax; i++ {
		d *= 2
	}
	return min(d, s.backoffMax)
}

// failureReason classifies a panic value for metrics: a drill, a store that
// disagrees with the room's stream, or any other panic.
func failureReason(reason interface{}) string {
	err, ok := reason.(error)
	switch {
	case !ok:
		return "panic"
	case errors.Is(err, errCrashDrill), errors.Is(err, errConnCrashDrill), errors.Is(err, errUserCrashDrill):
		return "drill"
	case errors.Is(err, persistence.ErrOffsetMismatch), errors.Is(err, persistence.ErrEpochMismatch):
		return "store"
	default:
		return "panic"
	}
}
