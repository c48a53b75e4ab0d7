package retention

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"time"

	"github.com/troupe-chat/troupe/persistence"
)

// DefaultBatch is how many messages one Trim call deletes when NewRunner is
// given a batch <= 0.
const DefaultBatch = 500

// DefaultInterval is the time between passes when NewRunner is given an
// interval <= 0.
const DefaultInterval = time.Minute

// Runner applies a Policy to every room of a store, a pass every interval.
// Within a pass it trims one room at a time, in Trim calls of at most batch
// messages, yielding between calls, so that the room actors' own store calls
// are never held up for long. It is safe to run Runners on several nodes
// sharing a store: trims of one room by two of them just share the work.
type Runner struct {
	store    persistence.Store
	policy   Policy
	floor    int
	batch    int
	interval time.Duration
	log      *slog.Logger
	clock    func() time.Time

	afterPass func(trimmed int, err error) // tests: called after each pass of Run
}

// NewRunner returns a Runner that trims store's rooms to p every interval,
// in Trim calls of at most batch messages, never below the latest floor
// messages of a room (the recovery limit). clock tells the time the age
// bound is measured from. Defaults replace a batch <= 0 (DefaultBatch), an
// interval <= 0 (DefaultInterval), a floor < 0 (0), a nil log (discard) and
// a nil clock (time.Now).
func NewRunner(store persistence.Store, p Policy, floor, batch int, interval time.Duration,
	log *slog.Logger, clock func() time.Time) *Runner {
	if batch <= 0 {
		batch = DefaultBatch
	}
	if interval <= 0 {
		interval = DefaultInterval
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if clock == nil {
		clock = time.Now
	}
	return &Runner{store: store, policy: p, floor: max(floor, 0), batch: batch,
		interval: interval, log: log, clock: clock}
}

// Run trims now and then every interval until ctx ends, and then returns
// nil. A pass that fails is logged and the next pass tries again. With a
// Policy that keeps everything, Run returns nil at once.
func (r *Runner) Run(ctx context.Context) error {
	if r.policy.Off() {
		r.log.Info("retention: off, keeping all history")
		return nil
	}
	r.log.Info("retention: running", "policy", r.policy.String(), "floor", r.floor,
		"batch", r.batch, "interval", r.interval)
	tick := time.NewTicker(r.interval)
	defer tick.Stop()
	for {
		n, err := r.RunOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case err != nil:
			r.log.Warn("retention: pass failed", "trimmed", n, "err", err)
		case n > 0:
			r.log.Info("retention: pass trimmed messages", "trimmed", n)
		default:
			r.log.Debug("retention: pass trimmed nothing")
		}
		if r.afterPass != nil {
			r.afterPass(n, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// RunOnce makes one pass over every room the store lists and returns how
// many messages it trimmed. A room that fails does not stop the pass; the
// error returned joins every room's. When ctx ends, the pass stops and its
// error wraps ctx's.
func (r *Runner) RunOnce(ctx context.Context) (int, error) {
	if r.policy.Off() {
		return 0, nil
	}
	rooms, err := r.store.ListRooms(ctx)
	if err != nil {
		return 0, fmt.Errorf("retention: list rooms: %w", err)
	}
	now := r.clock()
	total := 0
	var errs []error
	for _, info := range rooms {
		n, err := r.trimRoom(ctx, info.Room, plan(info.LastOffset, r.policy, r.floor, now))
		total += n
		if err != nil {
			if ctx.Err() != nil {
				return total, fmt.Errorf("retention: %w", err)
			}
			errs = append(errs, fmt.Errorf("retention: room %s: %w", info.Room, err))
		}
	}
	return total, errors.Join(errs...)
}

// trimRoom runs the room's planned trims in batches and returns how many
// messages they deleted.
func (r *Runner) trimRoom(ctx context.Context, room string, reqs []persistence.TrimRequest) (int, error) {
	total := 0
	for _, req := range reqs {
		req.Limit = r.batch
		for {
			n, err := r.store.Trim(ctx, room, req)
			total += n
			if err != nil {
				return total, err
			}
			if n < r.batch {
				break // the request's prefix is gone
			}
			if err := ctx.Err(); err != nil {
				return total, err
			}
			runtime.Gosched() // let the room actors' store calls in between
		}
	}
	return total, nil
}
