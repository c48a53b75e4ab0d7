package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"github.com/troupe-chat/troupe/persistence"
)

const (
	sqlOldestOffset = `SELECT "offset" FROM messages WHERE room = ? ORDER BY "offset" ASC LIMIT 1`
	// sqlFirstYoung finds the first message of a candidate range that is
	// not old enough to trim; it scans at most the range (the request's
	// limit) along the primary key.
	sqlFirstYoung = `SELECT "offset" FROM messages
		WHERE room = ? AND "offset" BETWEEN ? AND ? AND ts >= ? ORDER BY "offset" ASC LIMIT 1`
	sqlTrimRange = `DELETE FROM messages WHERE room = ? AND "offset" BETWEEN ? AND ?`
)

// Trim implements persistence.Store. In one write transaction on the writer
// connection it finds the oldest retained offset, bounds the range to trim by
// the request's UpTo and Limit, shortens it to end before the first message
// too young for Before and before the first document update the room's
// snapshot does not cover, and deletes it: one range delete on the
// messages' primary key.
func (s *Store) Trim(ctx context.Context, room string, req persistence.TrimRequest) (int, error) {
	if err := persistence.CheckTrim(req); err != nil {
		return 0, fmt.Errorf("sqlite: trim %s: %w", room, err)
	}
	if err := s.check(); err != nil {
		return 0, fmt.Errorf("sqlite: trim %s: %w", room, err)
	}
	n, err := s.trim(ctx, room, req)
	if err != nil {
		return 0, fmt.Errorf("sqlite: trim %s: %w", room, err)
	}
	return n, nil
}

// trim is Trim without the error context.
func (s *Store) trim(ctx context.Context, room string, req persistence.TrimRequest) (int, error) {
	if req.UpTo == 0 {
		return 0, nil // matches nothing
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }() // after Commit, a no-op
	var lo int64
	err = tx.QueryRowContext(ctx, sqlOldestOffset, room).Scan(&lo)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil // empty stream or unknown room
	}
	if err != nil {
		return 0, fmt.Errorf("oldest offset: %w", err)
	}
	// Both terms are at most math.MaxInt64, so the uint64 sum cannot wrap.
	hi := min(req.UpTo, uint64(lo)+uint64(req.Limit)-1, math.MaxInt64)
	if hi < uint64(lo) {
		return 0, nil
	}
	if before, ok := req.BeforeMillis(); ok {
		var young int64
		err := tx.QueryRowContext(ctx, sqlFirstYoung, room, lo, int64(hi), before).Scan(&young)
		switch {
		case errors.Is(err, sql.ErrNoRows): // the whole range is old enough
		case err != nil:
			return 0, fmt.Errorf("age bound: %w", err)
		case young == lo:
			return 0, nil
		default:
			hi = uint64(young - 1)
		}
	}
	hi, ok, err := uncoveredBound(ctx, tx, room, uint64(lo), hi)
	if err != nil || !ok {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, sqlTrimRange, room, lo, int64(hi))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return int(n), nil
}

// OldestOffset implements persistence.Store: one primary key lookup through
// the read pool.
func (s *Store) OldestOffset(ctx context.Context, room string) (uint64, error) {
	if err := s.check(); err != nil {
		return 0, fmt.Errorf("sqlite: oldest offset %s: %w", room, err)
	}
	var off int64
	err := s.r.QueryRowContext(ctx, sqlOldestOffset, room).Scan(&off)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("sqlite: oldest offset %s: %w", room, err)
	}
	return uint64(off), nil
}
