package drills

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/metrics"
	"github.com/troupe-chat/troupe/persistence/faults"
)

// Target is the part of the engine that drills act on (*actors.Engine).
type Target interface {
	CrashRoomObserved(room string) (recovered <-chan bool, ok bool)
	Rooms() []actors.RoomStats
	KillUserConns(user string, n int) int
	Connections() int
	CrashUserObserved(id string) (recovered <-chan bool, ok bool)
	Users() []string
	Flush(ctx context.Context) error
}

// Faults switches the store's injected faults (*faults.Store).
type Faults interface {
	Inject(m faults.Mode) <-chan struct{}
	Heal() int
}

var (
	// ErrInvalid wraps a spec that cannot be run.
	ErrInvalid = errors.New("drills: invalid spec")
	// ErrBusy is returned for a store-stall while another one runs.
	ErrBusy = errors.New("drills: a store-stall drill is already running")
	// ErrClosed is returned once the runner is closed (the server drains).
	ErrClosed = errors.New("drills: the server is shutting down")
)

// keepReports bounds how many finished reports a runner remembers.
const keepReports = 100

// Runner starts drills and keeps their reports. It is safe for concurrent use.
type Runner struct {
	target          Target
	faults          Faults
	metrics         *metrics.Metrics
	log             *slog.Logger
	recoveryTimeout time.Duration // how long a crashed room has to come back

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	seq      int
	reports  map[string]*Report       // guarded by mu
	ended    map[string]chan struct{} // guarded by mu: closed when the drill ends
	order    []string                 // guarded by mu: report ids, oldest first
	stalling bool                     // guarded by mu: a store-stall runs
	closed   bool                     // guarded by mu
}

// New returns a runner that drills target and the store behind f.
func New(target Target, f Faults, m *metrics.Metrics, log *slog.Logger) *Runner {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Runner{
		target: target, faults: f, metrics: m, log: log.With("component", "drills"),
		recoveryTimeout: 30 * time.Second, ctx: ctx, cancel: cancel,
		reports: make(map[string]*Report), ended: make(map[string]chan struct{}),
	}
}

// Start validates spec and starts the drill in the background. It returns the
// drill's first report (state running); Get follows it.
func (r *Runner) Start(spec Spec) (Report, error) {
	spec, err := spec.normalize()
	if err != nil {
		return Report{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return Report{}, ErrClosed
	}
	if spec.Kind == StoreStall {
		if r.stalling {
			return Report{}, ErrBusy
		}
		r.stalling = true
	}
	r.seq++
	rep := &Report{ID: "d" + strconv.Itoa(r.seq), Spec: spec, State: Running, Started: time.Now().UTC(), Errors: map[string]int{}}
	r.reports[rep.ID] = rep
	r.ended[rep.ID] = make(chan struct{})
	r.order = append(r.order, rep.ID)
	r.forgetOldLocked()
	r.wg.Add(1)
	go r.run(rep.ID, spec)
	return *rep, nil
}

// Get returns a copy of the drill's report.
func (r *Runner) Get(id string) (Report, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep, ok := r.reports[id]
	if !ok {
		return Report{}, false
	}
	return copyReport(rep), true
}

// Wait blocks until the drill ends or ctx is done, then returns its report.
func (r *Runner) Wait(ctx context.Context, id string) (Report, bool) {
	r.mu.Lock()
	ended, ok := r.ended[id]
	r.mu.Unlock()
	if !ok {
		return Report{}, false
	}
	select {
	case <-ended:
	case <-ctx.Done():
	}
	return r.Get(id)
}

// Close cancels running drills (a stalled store is healed) and waits for them.
func (r *Runner) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
}

func copyReport(rep *Report) Report {
	c := *rep
	c.Targets = append([]string(nil), rep.Targets...)
	c.RecoverySamples = append([]float64(nil), rep.RecoverySamples...)
	c.Errors = make(map[string]int, len(rep.Errors))
	for k, v := range rep.Errors {
		c.Errors[k] = v
	}
	return c
}

func (r *Runner) forgetOldLocked() {
	for len(r.order) > keepReports {
		id := r.order[0]
		if r.reports[id].State == Running {
			return
		}
		delete(r.reports, id)
		delete(r.ended, id)
		r.order = r.order[1:]
	}
}

// update applies f to the drill's report under the lock.
func (r *Runner) update(id string, f func(*Report)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r.reports[id])
}

// run executes one drill and completes its report.
func (r *Runner) run(id string, spec Spec) {
	defer r.wg.Done()
	before := snapshot(r.metrics)
	log := r.log.With("drill", id, "kind", spec.Kind)
	log.Info("drill started", "spec", spec)
	var recoveries []float64
	var err error
	switch spec.Kind {
	case RoomCrash:
		recoveries, err = r.roomCrash(id, spec)
	case ConnKill:
		err = r.connKill(id, spec)
	case UserCrash:
		recoveries, err = r.userCrash(id, spec)
	case StoreStall:
		recoveries, err = r.storeStall(id, spec)
		r.mu.Lock()
		r.stalling = false
		r.mu.Unlock()
	}
	after := snapshot(r.metrics)
	for _, ms := range recoveries {
		r.metrics.DrillRecovery.WithLabelValues(string(spec.Kind)).Observe(ms / 1000)
	}
	var rep Report
	r.update(id, func(rep0 *Report) {
		ended := time.Now().UTC()
		rep0.Ended = &ended
		rep0.Recovery = Summarize(recoveries)
		rep0.RecoverySamples = recoveries
		rep0.Restarts = int(after.restarts - before.restarts)
		rep0.RoomsStopped = int(after.roomsStopped - before.roomsStopped)
		for code, n := range after.errors {
			if d := int(n - before.errors[code]); d > 0 {
				rep0.Errors[code] = d
			}
		}
		rep0.State = Done
		if err != nil {
			rep0.State, rep0.Error = Failed, err.Error()
		}
		rep = copyReport(rep0)
		close(r.ended[id])
	})
	outcome := "recovered"
	switch {
	case rep.State == Failed:
		outcome = "failed"
	case rep.Unrecovered > 0:
		outcome = "unrecovered"
	}
	r.metrics.DrillRuns.WithLabelValues(string(spec.Kind), outcome).Inc()
	log.Info("drill ended", "outcome", outcome, "injected", rep.Injected, "recovered", rep.Recovered,
		"restarts", rep.Restarts, "recovery_p50_ms", rep.Recovery.P50, "recovery_max_ms", rep.Recovery.Max, "err", err)
}

// roomCrash crashes each target room Count times, waiting for it to come back
// before the next crash, and measures each recovery.
func (r *Runner) roomCrash(id string, spec Spec) ([]float64, error) {
	rooms := []string{spec.Room}
	if spec.Room == "" {
		rooms = rooms[:0]
		for _, s := range r.target.Rooms() {
			rooms = append(rooms, s.Room)
		}
		if len(rooms) == 0 {
			return nil, errors.New("no active room to crash")
		}
	}
	r.update(id, func(rep *Report) { rep.Targets = rooms })
	var (
		mu         sync.Mutex
		recoveries []float64
		wg         sync.WaitGroup
		missing    []string
	)
	for _, room := range rooms {
		wg.Go(func() {
			for i := range spec.Count {
				if i > 0 && !r.pause(time.Duration(spec.IntervalMS)*time.Millisecond) {
					return
				}
				start := time.Now()
				done, ok := r.target.CrashRoomObserved(room)
				if !ok {
					mu.Lock()
					missing = append(missing, room)
					mu.Unlock()
					return
				}
				r.update(id, func(rep *Report) { rep.Injected++ })
				back := r.await(done)
				ms := float64(time.Since(start).Microseconds()) / 1000
				r.update(id, func(rep *Report) {
					if back {
						rep.Recovered++
					} else {
						rep.Unrecovered++
					}
				})
				if !back {
					return // stopped past its budget, or the runner closed
				}
				mu.Lock()
				recoveries = append(recoveries, ms)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(missing) > 0 {
		return recoveries, fmt.Errorf("rooms not active: %v", missing)
	}
	return recoveries, nil
}

// await waits for a crashed room's verdict.
func (r *Runner) await(done <-chan bool) bool {
	t := time.NewTimer(r.recoveryTimeout)
	defer t.Stop()
	select {
	case ok := <-done:
		return ok
	case <-t.C:
		return false
	case <-r.ctx.Done():
		return false
	}
}

// pause waits d, or less if the runner closes (then it reports false).
func (r *Runner) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.ctx.Done():
		return false
	}
}

// connKill kills Count connections, or Fraction of them (at least one);
// with User, only that user's (all of them unless Count is set).
func (r *Runner) connKill(id string, spec Spec) error {
	n := spec.Count
	switch {
	case n > 0:
	case spec.User != "":
		n = math.MaxInt
	default:
		n = max(1, int(math.Ceil(spec.Fraction*float64(r.target.Connections()))))
	}
	killed := r.target.KillUserConns(spec.User, n)
	r.update(id, func(rep *Report) {
		rep.Targets = []string{fmt.Sprintf("%d connections", killed)}
		rep.Injected = killed
		rep.Recovered = killed // the actor is gone by design; clients reconnect
	})
	if killed == 0 {
		return errors.New("no welcomed connection to kill")
	}
	return nil
}

// userCrash crashes the named user, or Count live users chosen at random,
// all at once, and measures each one's restart.
func (r *Runner) userCrash(id string, spec Spec) ([]float64, error) {
	users := []string{spec.User}
	if spec.User == "" {
		users = r.target.Users()
		rand.Shuffle(len(users), func(i, j int) { users[i], users[j] = users[j], users[i] })
		users = users[:min(spec.Count, len(users))]
	}
	type crash struct {
		start time.Time
		done  <-chan bool
	}
	var crashed []string
	var crashes []crash
	for _, u := range users {
		start := time.Now()
		if done, ok := r.target.CrashUserObserved(u); ok {
			crashed = append(crashed, u)
			crashes = append(crashes, crash{start, done})
		}
	}
	r.update(id, func(rep *Report) {
		rep.Targets = crashed
		rep.Injected = len(crashed)
	})
	if len(crashed) == 0 {
		return nil, errors.New("no live user to crash")
	}
	var (
		mu         sync.Mutex
		recoveries []float64
		wg         sync.WaitGroup
	)
	for _, c := range crashes {
		wg.Go(func() {
			back := r.await(c.done)
			ms := float64(time.Since(c.start).Microseconds()) / 1000
			r.update(id, func(rep *Report) {
				if back {
					rep.Recovered++
				} else {
					rep.Unrecovered++
				}
			})
			if back {
				mu.Lock()
				recoveries = append(recoveries, ms)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return recoveries, nil
}

// storeStall holds the store fault for the spec's duration, then heals it
// and measures how long the rooms take to store everything they hold.
func (r *Runner) storeStall(id string, spec Spec) ([]float64, error) {
	mode := faults.Stall
	if spec.Mode == "fail" {
		mode = faults.Fail
	}
	r.faults.Inject(mode)
	r.update(id, func(rep *Report) {
		rep.Targets = []string{"store (" + spec.Mode + ")"}
		rep.Injected = 1
	})
	r.pause(time.Duration(spec.DurationMS) * time.Millisecond)
	start := time.Now()
	r.faults.Heal()
	ctx, cancel := context.WithTimeout(r.ctx, r.recoveryTimeout)
	defer cancel()
	if err := r.target.Flush(ctx); err != nil {
		r.update(id, func(rep *Report) { rep.Unrecovered = 1 })
		return nil, fmt.Errorf("rooms did not store their backlog after the store came back: %w", err)
	}
	ms := float64(time.Since(start).Microseconds()) / 1000
	r.update(id, func(rep *Report) { rep.Recovered = 1 })
	return []float64{ms}, nil
}
