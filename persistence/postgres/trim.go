package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/troupe-chat/troupe/persistence"
)

const (
	sqlOldestOffset = `SELECT "offset" FROM messages WHERE ` + sqlRoomStream + ` ORDER BY "offset" ASC LIMIT 1`

	// sqlTrim deletes, in the room's current epoch, the messages from the
	// oldest (lo) up to $2 (UpTo), at most $3 (Limit) of them, stopping
	// before the first message with ts >= $4 (Before in Unix ms; NULL: no
	// age bound), and before the first document update the room's snapshot
	// (snap, 0 without one) does not cover. "offset" - lo < $3 cannot
	// overflow as lo + $3 could. young and snap are aggregates, so each has
	// one row even when lo has none.
	sqlTrim = `WITH cur AS (SELECT epoch FROM rooms WHERE name = $1),
	lo AS (
		SELECT m."offset" AS lo FROM messages m JOIN cur ON m.epoch = cur.epoch
		WHERE m.room = $1 ORDER BY m."offset" ASC LIMIT 1
	),
	snap AS (
		SELECT coalesce(max(s."offset"), 0) AS off FROM doc_snapshots s JOIN cur ON s.epoch = cur.epoch
		WHERE s.room = $1
	),
	young AS (
		SELECT min(m."offset") AS y FROM messages m JOIN cur ON m.epoch = cur.epoch CROSS JOIN lo CROSS JOIN snap
		WHERE m.room = $1 AND m."offset" >= lo.lo AND m."offset" <= $2 AND m."offset" - lo.lo < $3
			AND (($4::bigint IS NOT NULL AND m.ts >= $4::bigint) OR (m.kind = 'doc' AND m."offset" > snap.off))
	)
	DELETE FROM messages m USING cur, lo, young
	WHERE m.room = $1 AND m.epoch = cur.epoch AND m."offset" >= lo.lo AND m."offset" <= $2
		AND m."offset" - lo.lo < $3 AND (young.y IS NULL OR m."offset" < young.y)`
)

// Trim implements persistence.Store in one statement (sqlTrim): the
// selection and the deletion see one snapshot. Trims of one room by several
// nodes at once each delete a prefix of the stream, so together they do too.
func (s *Store) Trim(ctx context.Context, room string, req persistence.TrimRequest) (int, error) {
	if err := persistence.CheckTrim(req); err != nil {
		return 0, fmt.Errorf("postgres: trim %s: %w", room, err)
	}
	if err := s.check(); err != nil {
		return 0, fmt.Errorf("postgres: trim %s: %w", room, err)
	}
	if req.UpTo == 0 {
		return 0, nil // matches nothing
	}
	var before *int64 // NULL: no age bound
	if ms, ok := req.BeforeMillis(); ok {
		before = &ms
	}
	tag, err := s.pool.Exec(ctx, sqlTrim, room, int64(min(req.UpTo, math.MaxInt64)), int64(req.Limit), before)
	if err != nil {
		return 0, fmt.Errorf("postgres: trim %s: %w", room, s.failed(err))
	}
	return int(tag.RowsAffected()), nil
}

// OldestOffset implements persistence.Store.
func (s *Store) OldestOffset(ctx context.Context, room string) (uint64, error) {
	if err := s.check(); err != nil {
		return 0, fmt.Errorf("postgres: oldest offset %s: %w", room, err)
	}
	var off int64
	err := s.pool.QueryRow(ctx, sqlOldestOffset, room).Scan(&off)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("postgres: oldest offset %s: %w", room, s.failed(err))
	}
	return uint64(off), nil
}
