package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/groupcommit"
)

const (
	// sqlLockRooms locks the rows of a group's rooms. ORDER BY is applied
	// before the locks are taken, so every group locks in name order and two
	// groups never wait for each other in a cycle.
	sqlLockRooms = `SELECT name, epoch, last_offset, fence FROM rooms
		WHERE name = ANY($1::text[]) ORDER BY name FOR UPDATE`

	// sqlInsertMessages inserts rows given column by column, as arrays.
	sqlInsertMessages = `INSERT INTO messages
		(room, epoch, "offset", id, ts, from_id, from_name, kind, text, data, reply_to, cid)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[],
			$6::bytea[], $7::bytea[], $8::text[], $9::bytea[], $10::bytea[], $11::bytea[], $12::bytea[])`

	// sqlSetLastOffsets sets the last offsets of rooms given as two arrays
	// (names unique).
	sqlSetLastOffsets = `UPDATE rooms SET last_offset = u.last
		FROM unnest($1::text[], $2::bigint[]) AS u (name, last) WHERE rooms.name = u.name`
)

// commitGroup stores group's batches, setting each request's err. Requests
// whose context has ended, or that arrive after Close, are skipped.
//
// A group is first tried in one transaction without savepoints: the rooms'
// rows are locked in one statement, each batch is checked against its room
// (existence, epoch, fence, offsets) in Go, and the batches that pass are
// inserted in one statement, their last offsets set in another. A batch
// failing its checks fails alone, before anything is written. Savepoints are
// avoided there on purpose: each one that writes is a subtransaction, and
// once a transaction has more than 64, every other session's snapshots get
// slower (the subxid cache overflows).
//
// Only when that transaction fails with an error the server reported (say,
// a row colliding with one written behind the store's back) is the group run
// again room by room, each room's batch inside a SAVEPOINT, so the failing
// room's batch is rolled back alone and the others are stored. Errors of the
// connection itself fail the whole group.
//
// The commit runs until every live request's context has ended; requests
// for the same room are applied in arrival order.
func (s *Store) commitGroup(ctx context.Context, group []*appendReq) {
	live := groupcommit.Live(group, s.check)
	if len(live) == 0 {
		return
	}
	slices.SortStableFunc(live, func(a, b *appendReq) int { return strings.Compare(a.Item.room, b.Item.room) })
	ctx, stop := untilAllDone(ctx, live)
	defer stop()

	errs, err := s.commitTogether(ctx, live)
	if err == nil {
		for i, r := range live {
			r.Err = errs[i]
		}
		return
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || ctx.Err() != nil {
		for _, r := range live {
			r.Err = err
		}
		return
	}
	s.commitEach(ctx, live)
}

// untilAllDone returns a context derived from parent that ends when every
// request's context has ended, and a function releasing it.
func untilAllDone(parent context.Context, reqs []*appendReq) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	var left atomic.Int64
	left.Store(int64(len(reqs)))
	stops := make([]func() bool, len(reqs))
	for i, r := range reqs {
		stops[i] = context.AfterFunc(r.Ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

// roomRow is a locked room's state as a transaction sees it.
type roomRow struct {
	epoch       string
	last, fence int64
}

// checkClaim reports whether r may append to the room in state st (nil: no
// such room).
func checkClaim(st *roomRow, r *appendReq) error {
	switch {
	case st == nil:
		return persistence.ErrNoSuchRoom
	case st.epoch != r.Item.claim.Epoch:
		return fmt.Errorf("%w: stored %s, got %s", persistence.ErrEpochMismatch, st.epoch, r.Item.claim.Epoch)
	case uint64(st.fence) != r.Item.claim.Fence:
		return fmt.Errorf("%w: fence %d, latest %d", persistence.ErrFenced, r.Item.claim.Fence, st.fence)
	}
	return persistence.CheckBatch(uint64(st.last), r.Item.msgs)
}

// commitTogether is commitGroup's transaction without savepoints. It returns
// each request's outcome (the failed checks), or an error for the whole
// group when the transaction failed and nothing was stored (or, for an error
// of COMMIT, maybe everything).
func (s *Store) commitTogether(ctx context.Context, live []*appendReq) ([]error, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(ctx) }() // after Commit, a no-op
	names := make([]string, 0, len(live))
	for _, r := range live {
		if len(names) == 0 || names[len(names)-1] != r.Item.room { // live is sorted
			names = append(names, r.Item.room)
		}
	}
	rooms := make(map[string]*roomRow, len(names))
	rows, err := tx.Query(ctx, sqlLockRooms, names)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var name string
		st := new(roomRow)
		if err := rows.Scan(&name, &st.epoch, &st.last, &st.fence); err != nil {
			rows.Close()
			return nil, err
		}
		rooms[name] = st
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}

	errs := make([]error, len(live))
	var ins messageRows
	var setNames []string
	var setLasts []int64
	for i, r := range live {
		st := rooms[r.Item.room]
		if errs[i] = checkClaim(st, r); errs[i] != nil || len(r.Item.msgs) == 0 {
			continue
		}
		ins.add(r.Item.room, st.epoch, r.Item.msgs)
		st.last = int64(r.Item.msgs[len(r.Item.msgs)-1].Offset) // a later batch of the room continues it
		if n := len(setNames); n > 0 && setNames[n-1] == r.Item.room {
			setLasts[n-1] = st.last
		} else {
			setNames, setLasts = append(setNames, r.Item.room), append(setLasts, st.last)
		}
	}
	if len(setNames) == 0 {
		return errs, nil // nothing to write: the rollback releases the locks
	}
	if err := execBatch(ctx, tx, []string{sqlInsertMessages, sqlSetLastOffsets},
		[][]any{ins.args(), {setNames, setLasts}}); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return errs, nil
}

// commitEach is commitGroup's fallback: one transaction, each request's
// batch in a savepoint of its own, rolled back alone when it fails.
func (s *Store) commitEach(ctx context.Context, live []*appendReq) {
	for _, r := range live {
		r.Err = nil
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		groupcommit.FailPending(live, err)
		return
	}
	defer func() { _ = tx.Rollback(ctx) }() // after Commit, a no-op
	stored, err := groupcommit.EachInSavepoint(ctx, live,
		func(ctx context.Context, sql string) error { _, err := tx.Exec(ctx, sql); return err },
		func(ctx context.Context, r *appendReq) error { return appendOne(ctx, tx, r) })
	if err != nil {
		groupcommit.FailPending(live, err)
		return
	}
	if stored == 0 {
		return
	}
	if err := tx.Commit(ctx); err != nil {
		groupcommit.FailPending(live, err)
	}
}

// appendOne checks and stores one request's batch inside tx.
func appendOne(ctx context.Context, tx pgx.Tx, r *appendReq) error {
	st := new(roomRow)
	err := tx.QueryRow(ctx, `SELECT epoch, last_offset, fence FROM rooms WHERE name = $1 FOR UPDATE`,
		r.Item.room).Scan(&st.epoch, &st.last, &st.fence)
	if errors.Is(err, pgx.ErrNoRows) {
		st, err = nil, nil
	}
	if err != nil {
		return err
	}
	if err := checkClaim(st, r); err != nil || len(r.Item.msgs) == 0 {
		return err
	}
	var ins messageRows
	ins.add(r.Item.room, st.epoch, r.Item.msgs)
	last := int64(r.Item.msgs[len(r.Item.msgs)-1].Offset)
	return execBatch(ctx, tx, []string{sqlInsertMessages, `UPDATE rooms SET last_offset = $2 WHERE name = $1`},
		[][]any{ins.args(), {r.Item.room, last}})
}

// execBatch runs the statements in one round trip, returning the first
// error.
func execBatch(ctx context.Context, tx pgx.Tx, sqls []string, args [][]any) error {
	b := &pgx.Batch{}
	for i, sql := range sqls {
		b.Queue(sql, args[i]...)
	}
	res := tx.SendBatch(ctx, b)
	var first error
	for range sqls {
		if _, err := res.Exec(); err != nil && first == nil {
			first = err
		}
	}
	return errors.Join(first, res.Close())
}
