package postgres

import (
	"context"
	"sync"

	"github.com/troupe-chat/troupe/persistence"
)

// groupCommit lets appends of many rooms share one transaction, and so one
// WAL flush: a commit costs a round trip and an fsync whatever it holds, so a
// transaction per room would cap the server at a few thousand room batches
// per second. An append queues itself; if fewer than committers commits are
// running, its caller becomes a leader at once and commits what is queued
// (its own batch first). When a leader's commit ends and appends have queued
// meanwhile, the oldest of them is promoted to lead the next group with
// everything queued then, so under load each transaction carries the batches
// that arrived while the previous ones were committing, and no caller keeps
// committing for others after its own batch is stored.
//
// Several leaders (committers, by default half the pool) may commit at once,
// each on its own pooled connection: PostgreSQL flushes the WAL of
// concurrent commits together, so a second leader's commit overlaps the
// first's fsync instead of queueing behind it, while the rest of the pool
// stays free for reads and claims. Rooms never deadlock across groups: each
// group locks its rooms' rows in name order. See commitGroup for how one
// room's failure is kept from the others.
type groupCommit struct {
	committers int // at most this many leaders at once; set before use

	mu      sync.Mutex
	queue   []*appendReq // guarded by mu
	leaders int          // guarded by mu: commits running
}

// appendReq is one queued Append. wake is closed once: when the request's
// outcome is in err, or when it is promoted to lead (then group holds the
// batches it commits, itself first).
type appendReq struct {
	ctx   context.Context
	room  string
	claim persistence.Claim
	msgs  []persistence.Message
	err   error
	group []*appendReq
	wake  chan struct{}
}

// maxGroup bounds the room batches of one transaction.
const maxGroup = 256

// append stores req's batch, in a transaction it may share, and returns its
// outcome.
func (g *groupCommit) append(ctx context.Context, s *Store, req *appendReq) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req.wake = make(chan struct{})
	g.mu.Lock()
	g.queue = append(g.queue, req)
	var group []*appendReq
	if g.leaders < g.committers {
		g.leaders++
		group = g.takeLocked()
	}
	g.mu.Unlock()
	if group == nil {
		// Once queued, an append waits for its outcome even if ctx ends:
		// giving up early could report failure for a batch then stored.
		// The commit itself ends when every member's context has (see
		// commitGroup).
		<-req.wake
		if req.group == nil {
			return req.err
		}
		group = req.group
	}
	// The leader's cancellation alone must not fail the others' batches.
	g.lead(context.WithoutCancel(ctx), s, req, group)
	return req.err
}

// takeLocked removes and returns the queue's oldest batches, at most
// maxGroup. g.mu must be held.
func (g *groupCommit) takeLocked() []*appendReq {
	n := min(len(g.queue), maxGroup)
	group := make([]*appendReq, n)
	copy(group, g.queue)
	rest := copy(g.queue, g.queue[n:])
	clear(g.queue[rest:])
	g.queue = g.queue[:rest]
	return group
}

// lead commits group (self's batch among them), tells the others their
// outcome, then hands the lead to the oldest queued append, if any.
func (g *groupCommit) lead(ctx context.Context, s *Store, self *appendReq, group []*appendReq) {
	s.commitGroup(ctx, group)
	for _, r := range group {
		if r != self {
			close(r.wake)
		}
	}
	g.mu.Lock()
	if len(g.queue) == 0 {
		g.leaders--
		g.mu.Unlock()
		return
	}
	next := g.queue[0]
	next.group = g.takeLocked()
	g.mu.Unlock()
	close(next.wake)
}
