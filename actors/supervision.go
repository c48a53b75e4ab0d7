package actors

import (
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
)

// roomStrategy restarts a crashed room one-for-one within its restart budget
// (cfg.RoomRestarts in cfg.RoomRestartWindow) and stops it beyond it.
type roomStrategy struct {
	env    *env
	budget actor.SupervisorStrategy
}

func newRoomStrategy(e *env) actor.SupervisorStrategy {
	return &roomStrategy{
		env:    e,
		budget: actor.NewOneForOneStrategy(e.cfg.RoomRestarts, e.cfg.RoomRestartWindow, actor.DefaultDecider),
	}
}

// HandleFailure implements actor.SupervisorStrategy.
func (s *roomStrategy) HandleFailure(system *actor.ActorSystem, supervisor actor.Supervisor, child *actor.PID,
	rs *actor.RestartStatistics, reason interface{}, message interface{}) {
	s.env.log.Error("room actor panicked", "room", child.Id, slog.Any("reason", reason))
	before := rs.FailureCount()
	s.budget.HandleFailure(system, supervisor, child, rs, reason, message)
	if rs.FailureCount() < before || rs.FailureCount() == 0 {
		// The budget was exceeded: the strategy reset the statistics and stopped the room.
		s.env.metrics.RoomsStoppedByBudget.Inc()
	}
}
