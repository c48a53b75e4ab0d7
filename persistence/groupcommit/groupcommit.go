// Package groupcommit lets concurrent writes share commits: a store whose
// commit costs about the same whatever it holds (an fsync, a WAL flush, a
// round trip) queues each write and commits whatever has queued in one go.
//
// The semantics, which the stores rely on:
//
//   - Do queues its item. If fewer than the queue's committers commits are
//     running (then nothing else is queued), its caller becomes a leader at
//     once and commits its item alone.
//   - Otherwise the caller waits. When a leader's commit ends and requests
//     have queued meanwhile, the oldest of them is promoted to lead the next
//     group: at promotion it takes the oldest queued requests, at most
//     MaxGroup, itself first. So under load each commit carries what arrived
//     while the previous ones ran, and no caller keeps committing for others
//     after its own request is stored. When the queue is empty, the leader
//     just leaves; at most committers leaders run at once.
//   - Once queued, a request waits for its outcome even if its context
//     ends: giving up early could report failure for a write that is then
//     committed. The commit function sees each request's context (Ctx) and
//     decides what an ended one means, typically skipping it.
//   - The leader runs the commit function under context.WithoutCancel of its
//     own context, so the leader's cancellation alone does not fail the other
//     requests of its group.
//   - The commit function sets each request's Err; Do returns that error as
//     it is (callers add their own context).
package groupcommit

import (
	"context"
	"sync"
)

// MaxGroup bounds how many requests one commit carries.
const MaxGroup = 256

// Request is one queued item, as the commit function sees it.
type Request[T any] struct {
	// Ctx is the context Do was called with. It may have ended by the time
	// the commit runs.
	Ctx context.Context
	// Item is what Do was given.
	Item T
	// Err is the request's outcome, set by the commit function; Do returns
	// it.
	Err error

	wake  chan struct{} // closed once: Err is set, or the request leads group
	group []*Request[T] // set when promoted: what it commits, itself first
}

// Queue groups requests for a commit function. Create it with New; it is
// safe for concurrent use.
type Queue[T any] struct {
	committers int
	commit     func(ctx context.Context, group []*Request[T])

	mu      sync.Mutex
	queue   []*Request[T] // guarded by mu: waiting, not yet taken by a leader
	leaders int           // guarded by mu: commits running
}

// New returns a queue that runs commit on groups of requests, at most
// committers (at least 1) at once. commit must set each request's Err and
// must not keep the group after it returns; it is called with a context
// that is not cancelled when the leading caller's is.
func New[T any](committers int, commit func(ctx context.Context, group []*Request[T])) *Queue[T] {
	return &Queue[T]{committers: max(1, committers), commit: commit}
}

// Committers reports how many commits may run at once.
func (q *Queue[T]) Committers() int { return q.committers }

// Do commits item, in a group it may share, and returns the outcome the
// commit function gave it. A ctx that has already ended returns its error
// without queueing; once queued, Do waits for the outcome whatever ctx does
// (see the package documentation).
func (q *Queue[T]) Do(ctx context.Context, item T) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &Request[T]{Ctx: ctx, Item: item, wake: make(chan struct{})}
	q.mu.Lock()
	q.queue = append(q.queue, req)
	var group []*Request[T]
	if q.leaders < q.committers {
		q.leaders++
		group = q.takeLocked()
	}
	q.mu.Unlock()
	if group == nil {
		<-req.wake
		if req.group == nil {
			return req.Err
		}
		group, req.group = req.group, nil
	}
	q.lead(context.WithoutCancel(ctx), req, group)
	return req.Err
}

// takeLocked removes and returns the queue's oldest requests, at most
// MaxGroup. q.mu must be held.
func (q *Queue[T]) takeLocked() []*Request[T] {
	n := min(len(q.queue), MaxGroup)
	group := make([]*Request[T], n)
	copy(group, q.queue)
	rest := copy(q.queue, q.queue[n:])
	clear(q.queue[rest:])
	q.queue = q.queue[:rest]
	return group
}

// lead commits group (self among them), tells the others their outcome,
// then hands the lead to the oldest queued request, if any.
func (q *Queue[T]) lead(ctx context.Context, self *Request[T], group []*Request[T]) {
	q.commit(ctx, group)
	for _, r := range group {
		if r != self {
			close(r.wake)
		}
	}
	q.mu.Lock()
	if len(q.queue) == 0 {
		q.leaders--
		q.mu.Unlock()
		return
	}
	next := q.queue[0]
	next.group = q.takeLocked()
	q.mu.Unlock()
	close(next.wake)
}

// FailPending sets err as the outcome of every request of group that has
// none yet: for a commit function whose transaction failed after some
// requests had failed on their own.
func FailPending[T any](group []*Request[T], err error) {
	for _, r := range group {
		if r.Err == nil {
			r.Err = err
		}
	}
}

// Live returns the requests of group still worth committing, in order: a
// request whose context has ended gets that error as its outcome, and so does
// one for which check (say, "is the store still open") fails; the others are
// returned. The commit function calls it first.
func Live[T any](group []*Request[T], check func() error) []*Request[T] {
	live := make([]*Request[T], 0, len(group))
	for _, r := range group {
		if err := r.Ctx.Err(); err != nil {
			r.Err = err
			continue
		}
		if err := check(); err != nil {
			r.Err = err
			continue
		}
		live = append(live, r)
	}
	return live
}
