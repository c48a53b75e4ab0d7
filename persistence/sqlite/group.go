package sqlite

import (
	"context"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/groupcommit"
)

// Appends of many rooms share one transaction, and so one fsync: with
// synchronous=FULL a commit costs about a millisecond whatever it holds, so a
// transaction per room caps the whole server near 1,000 room batches per
// second. Append queues its batch on a groupcommit.Queue with one committer
// (the store has one writer connection): alone, an append commits at once;
// under load each transaction carries every batch that arrived during the
// previous fsync. Each room's batch runs inside a savepoint, so one room's
// failure (an epoch mismatch, a gap) rolls back only that batch.

// roomBatch is one Append's arguments, as queued.
type roomBatch struct {
	room  string
	claim persistence.Claim
	msgs  []persistence.Message
}

// appendReq is one queued Append.
type appendReq = groupcommit.Request[roomBatch]

// newCommits returns the queue Append's batches share transactions through.
func (s *Store) newCommits() *groupcommit.Queue[roomBatch] {
	return groupcommit.New(1, s.commitGroup)
}

// commitGroup runs batch in one transaction, setting each request's Err.
func (s *Store) commitGroup(ctx context.Context, batch []*appendReq) {
	live := groupcommit.Live(batch, s.check)
	if len(live) == 0 {
		return
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		groupcommit.FailPending(live, err)
		return
	}
	defer func() { _ = tx.Rollback() }() // after Commit, a no-op
	if len(live) == 1 {
		r := live[0]
		if r.Err = s.appendTx(ctx, tx, r.Item.room, r.Item.claim, r.Item.msgs); r.Err != nil {
			return
		}
		if err := tx.Commit(); err != nil {
			r.Err = err
		}
		return
	}
	stored, err := groupcommit.EachInSavepoint(ctx, live,
		func(ctx context.Context, q string) error { _, err := tx.ExecContext(ctx, q); return err },
		func(ctx context.Context, r *appendReq) error {
			return s.appendTx(ctx, tx, r.Item.room, r.Item.claim, r.Item.msgs)
		})
	if err != nil {
		groupcommit.FailPending(live, err)
		return
	}
	if stored == 0 {
		return
	}
	if err := tx.Commit(); err != nil {
		groupcommit.FailPending(live, err)
	}
}
