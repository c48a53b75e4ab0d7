package actors

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/troupe-chat/troupe/persistence"
)

// sessionBatch runs the sessions actor's store calls of one lane in
// batches: while the lane runs a batch, the calls that come meanwhile wait
// and then go together, the loads in one query and the saves in one upsert
// (persistence.LoadSessions, SaveSessions). A reconnect storm on a cluster
// node loads and saves a session per client before its welcome; one round
// trip per call made the lanes the storm's bottleneck (about 400 resumes a
// second per node, with the node's CPU mostly idle).
//
// A batch keeps the calls' order per session: a load answers what the
// calls queued before it left (a save or delete of the session in the same
// batch answers it without a read), and of several writes of one session
// only the last is made.
type sessionBatch struct {
	lane    *storeLane
	store   persistence.Store
	timeout time.Duration

	mu     sync.Mutex
	ops    []sessionOp // guarded by mu: calls waiting for the next batch
	queued bool        // guarded by mu: a batch run is queued on the lane
}

// sessionOp is one store call: exactly one of save, del and load is set.
// done, if not nil, gets the call's outcome (a load's record) on the lane's
// goroutine once the batch is done.
type sessionOp struct {
	save *persistence.SessionRecord
	del  string
	load string
	done func(rec persistence.SessionRecord, err error)
}

// maxSessionBatch bounds the calls of one batch (and so the rows of one
// statement); the rest go in the next.
const maxSessionBatch = 512

func newSessionBatch(store persistence.Store, timeout time.Duration) *sessionBatch {
	return &sessionBatch{lane: newStoreLane(nil), store: store, timeout: timeout}
}

// enqueue adds op to the next batch; it never blocks.
func (b *sessionBatch) enqueue(op sessionOp) {
	b.mu.Lock()
	b.ops = append(b.ops, op)
	run := !b.queued
	b.queued = true
	b.mu.Unlock()
	if run {
		b.lane.Do(b.run)
	}
}

// run takes the waiting calls (up to maxSessionBatch) and makes them.
func (b *sessionBatch) run() {
	b.mu.Lock()
	n := min(len(b.ops), maxSessionBatch)
	ops := b.ops[:n:n]
	b.ops = b.ops[n:]
	more := len(b.ops) > 0
	b.queued = more
	b.mu.Unlock()
	if more {
		b.lane.Do(b.run)
	}
	if len(ops) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	outcomes := b.apply(ctx, ops)
	for i, op := range ops {
		if op.done != nil {
			op.done(outcomes[i].rec, outcomes[i].err)
		}
	}
}

type sessionOutcome struct {
	rec persistence.SessionRecord
	err error
}

// apply makes the calls of ops: first the reads no earlier call of the batch
// answers, then the last write of each session; it returns each call's outcome.
func (b *sessionBatch) apply(ctx context.Context, ops []sessionOp) []sessionOutcome {
	out := make([]sessionOutcome, len(ops))
	last := make(map[string]int) // session → its latest write in ops so far
	var reads []string
	readers := make(map[string][]int) // session → the loads the read answers
	for i, op := range ops {
		switch {
		case op.save != nil:
			last[op.save.ID] = i
		case op.del != "":
			last[op.del] = i
		default:
			if w, ok := last[op.load]; ok {
				if ops[w].save != nil {
					out[i].rec = *ops[w].save
				} else {
					out[i].err = fmt.Errorf("load session %s: %w", op.load, persistence.ErrNoSuchSession)
				}
				continue
			}
			if _, ok := readers[op.load]; !ok {
				reads = append(reads, op.load)
			}
			readers[op.load] = append(readers[op.load], i)
		}
	}
	if len(reads) > 0 {
		got, err := persistence.LoadSessions(ctx, b.store, reads)
		for _, id := range reads {
			for _, i := range readers[id] {
				rec, ok := got[id]
				switch {
				case err != nil:
					out[i].err = fmt.Errorf("load sessions: %w", err)
				case !ok:
					out[i].err = fmt.Errorf("load session %s: %w", id, persistence.ErrNoSuchSession)
				default:
					out[i].rec = rec
				}
			}
		}
	}
	var saves []persistence.SessionRecord
	var saveOps []int
	for i, op := range ops {
		switch {
		case op.save != nil && last[op.save.ID] == i:
			saves = append(saves, *op.save)
			saveOps = append(saveOps, i)
		case op.del != "" && last[op.del] == i:
			if err := b.store.DeleteSession(ctx, op.del); err != nil {
				out[i].err = fmt.Errorf("delete session: %w", err)
			}
		}
	}
	if err := persistence.SaveSessions(ctx, b.store, saves); err != nil {
		for _, i := range saveOps {
			out[i].err = fmt.Errorf("save sessions: %w", err)
		}
	}
	// A write replaced by a later one of its session shares that one's fate.
	for i, op := range ops {
		id := op.del
		if op.save != nil {
			id = op.save.ID
		}
		if id != "" && last[id] != i {
			out[i].err = out[last[id]].err
		}
	}
	return out
}
