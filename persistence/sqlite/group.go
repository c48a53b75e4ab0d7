package sqlite

import (
	"context"
	"fmt"
	"sync"

	"github.com/troupe-chat/troupe/persistence"
)

// groupCommit lets appends of many rooms share one transaction, and so one
// fsync: with synchronous=FULL a commit costs about a millisecond whatever it
// holds, so a transaction per room caps the whole server near 1,000 room
// batches per second. An append queues itself; if no commit is running, its
// caller becomes the leader and commits what is queued (its own batch first).
// When that commit ends and more appends have queued meanwhile, the oldest of
// them is promoted to lead the next commit, so under load each transaction
// carries every batch that arrived during the previous fsync, and no caller
// keeps committing for others after its own batch is stored. Alone, an append
// commits at once. Each room's batch runs inside a savepoint, so one room's
// failure (an epoch mismatch, a gap) rolls back only that batch.
type groupCommit struct {
	mu      sync.Mutex
	queue   []*appendReq // guarded by mu
	running bool         // guarded by mu: a leader is committing
}

// appendReq is one queued Append. wake is closed once: when the request's
// outcome is in err, or when it is promoted to lead (then leader is true).
type appendReq struct {
	ctx    context.Context
	room   string
	claim  persistence.Claim
	msgs   []persistence.Message
	err    error
	leader bool
	wake   chan struct{}
}

// maxGroup bounds the room batches of one transaction.
const maxGroup = 256

// append stores one room's batch, in a transaction it may share.
func (g *groupCommit) append(ctx context.Context, s *Store, room string, c persistence.Claim, msgs []persistence.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &appendReq{ctx: ctx, room: room, claim: c, msgs: msgs, wake: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, req)
	lead := !g.running
	g.running = true
	g.mu.Unlock()
	if !lead {
		// Once queued, an append waits for its outcome even if ctx ends:
		// giving up early could report failure for a batch then stored.
		<-req.wake
		if !req.leader {
			return req.err
		}
	}
	// The leader's cancellation must not fail the others' batches; each
	// request's own context is checked before it joins a transaction.
	g.lead(context.WithoutCancel(ctx), s, req)
	return req.err
}

// lead commits the queue's oldest batches (self's among them: it is at the
// head), then hands the lead to the next queued append, if any.
func (g *groupCommit) lead(ctx context.Context, s *Store, self *appendReq) {
	g.mu.Lock()
	n := min(len(g.queue), maxGroup)
	batch := make([]*appendReq, n)
	copy(batch, g.queue)
	rest := copy(g.queue, g.queue[n:])
	clear(g.queue[rest:])
	g.queue = g.queue[:rest]
	g.mu.Unlock()

	s.commitGroup(ctx, batch)
	for _, r := range batch {
		if r != self {
			close(r.wake)
		}
	}

	g.mu.Lock()
	if len(g.queue) == 0 {
		g.running = false
	} else {
		next := g.queue[0]
		next.leader = true
		close(next.wake)
	}
	g.mu.Unlock()
}

// commitGroup runs batch in one transaction, setting each request's err.
func (s *Store) commitGroup(ctx context.Context, batch []*appendReq) {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if err := s.check(); err != nil {
			r.err = err
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	failAll := func(err error) {
		for _, r := range live {
			if r.err == nil {
				r.err = err
			}
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		failAll(err)
		return
	}
	defer func() { _ = tx.Rollback() }() // after Commit, a no-op
	if len(live) == 1 {
		if live[0].err = s.appendTx(ctx, tx, live[0].room, live[0].claim, live[0].msgs); live[0].err != nil {
			return
		}
		if err := tx.Commit(); err != nil {
			live[0].err = err
		}
		return
	}
	stored := 0
	for _, r := range live {
		if _, err := tx.ExecContext(ctx, "SAVEPOINT room_batch"); err != nil {
			failAll(fmt.Errorf("savepoint: %w", err))
			return
		}
		if r.err = s.appendTx(ctx, tx, r.room, r.claim, r.msgs); r.err != nil {
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO room_batch"); err != nil {
				failAll(fmt.Errorf("rollback to savepoint: %w", err))
				return
			}
		} else {
			stored++
		}
		if _, err := tx.ExecContext(ctx, "RELEASE room_batch"); err != nil {
			failAll(fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	if stored == 0 {
		return
	}
	if err := tx.Commit(); err != nil {
		failAll(err)
	}
}
