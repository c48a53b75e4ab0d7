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
	sqlLoadSnapshot = `SELECT s."offset", s.data, s.ts FROM doc_snapshots s
		JOIN rooms r ON r.name = s.room AND r.epoch = s.epoch WHERE s.room = ?`
	sqlUpsertSnapshot = `INSERT INTO doc_snapshots (room, epoch, "offset", data, ts) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (room) DO UPDATE SET epoch = excluded.epoch, "offset" = excluded."offset",
			data = excluded.data, ts = excluded.ts`
	// sqlFirstUncovered finds, in a candidate trim range, the first document
	// update the room's snapshot does not cover (through messages_doc).
	sqlFirstUncovered = `SELECT "offset" FROM messages
		WHERE room = ? AND kind = 'doc' AND "offset" BETWEEN ? AND ? ORDER BY "offset" ASC LIMIT 1`
)

// SaveSnapshot implements persistence.DocStore in one write transaction on
// the writer connection: the claim check, the comparison with the kept
// snapshot and the upsert.
func (s *Store) SaveSnapshot(ctx context.Context, room string, c persistence.Claim, snap persistence.Snapshot) (persistence.Snapshot, bool, error) {
	if err := s.check(); err != nil {
		return persistence.Snapshot{}, false, fmt.Errorf("sqlite: save snapshot %s: %w", room, err)
	}
	kept, stored, err := s.saveSnapshot(ctx, room, c, snap)
	if err != nil {
		return persistence.Snapshot{}, false, fmt.Errorf("sqlite: save snapshot %s: %w", room, err)
	}
	return kept, stored, nil
}

// saveSnapshot is SaveSnapshot without the error context.
func (s *Store) saveSnapshot(ctx context.Context, room string, c persistence.Claim, snap persistence.Snapshot) (persistence.Snapshot, bool, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return persistence.Snapshot{}, false, err
	}
	defer func() { _ = tx.Rollback() }() // after Commit, a no-op
	var epoch string
	var last, fence int64
	err = tx.QueryRowContext(ctx, `SELECT epoch, last_offset, fence FROM rooms WHERE name = ?`, room).Scan(&epoch, &last, &fence)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return persistence.Snapshot{}, false, persistence.ErrNoSuchRoom
	case err != nil:
		return persistence.Snapshot{}, false, err
	case epoch != c.Epoch:
		return persistence.Snapshot{}, false, fmt.Errorf("%w: stored %s, got %s", persistence.ErrEpochMismatch, epoch, c.Epoch)
	case uint64(fence) != c.Fence:
		return persistence.Snapshot{}, false, fmt.Errorf("%w: fence %d, latest %d", persistence.ErrFenced, c.Fence, fence)
	}
	if err := persistence.CheckSnapshot(uint64(last), snap); err != nil {
		return persistence.Snapshot{}, false, err
	}
	old, ok, err := loadSnapshot(tx.QueryRowContext(ctx, sqlLoadSnapshot, room))
	if err != nil {
		return persistence.Snapshot{}, false, fmt.Errorf("kept snapshot: %w", err)
	}
	if ok && old.Offset >= snap.Offset {
		return old, false, nil
	}
	if _, err := tx.ExecContext(ctx, sqlUpsertSnapshot, room, epoch, int64(snap.Offset), snap.Data, snap.TS); err != nil {
		return persistence.Snapshot{}, false, fmt.Errorf("store snapshot: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return persistence.Snapshot{}, false, err
	}
	return snap, true, nil
}

// LoadSnapshot implements persistence.DocStore through the read pool.
func (s *Store) LoadSnapshot(ctx context.Context, room string) (persistence.Snapshot, bool, error) {
	if err := s.check(); err != nil {
		return persistence.Snapshot{}, false, fmt.Errorf("sqlite: load snapshot %s: %w", room, err)
	}
	snap, ok, err := loadSnapshot(s.r.QueryRowContext(ctx, sqlLoadSnapshot, room))
	if err != nil {
		return persistence.Snapshot{}, false, fmt.Errorf("sqlite: load snapshot %s: %w", room, err)
	}
	return snap, ok, nil
}

// loadSnapshot scans one row of sqlLoadSnapshot; ok is false for none.
func loadSnapshot(row *sql.Row) (snap persistence.Snapshot, ok bool, err error) {
	var off int64
	err = row.Scan(&off, &snap.Data, &snap.TS)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return persistence.Snapshot{}, false, nil
	case err != nil:
		return persistence.Snapshot{}, false, err
	}
	snap.Offset = uint64(off)
	return snap, true, nil
}

// uncoveredBound returns hi shortened to end before the first document
// update in lo..hi that the room's snapshot does not cover, and ok false
// when that update is lo itself (nothing may be trimmed).
func uncoveredBound(ctx context.Context, tx *sql.Tx, room string, lo, hi uint64) (uint64, bool, error) {
	snap, _, err := loadSnapshot(tx.QueryRowContext(ctx, sqlLoadSnapshot, room))
	if err != nil {
		return 0, false, fmt.Errorf("snapshot: %w", err)
	}
	from := max(lo, snap.Offset+1)
	if from > hi {
		return hi, true, nil
	}
	var first int64
	err = tx.QueryRowContext(ctx, sqlFirstUncovered, room, int64(from), int64(hi)).Scan(&first)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return hi, true, nil
	case err != nil:
		return 0, false, fmt.Errorf("first uncovered update: %w", err)
	case uint64(first) == lo:
		return 0, false, nil
	}
	return uint64(first) - 1, true, nil
}

// kindQuery returns the statement and arguments of a Read with a Kind. The
// document kind is written into the statement, so that SQLite reads it
// through the partial index messages_doc; other kinds are bound.
func kindQuery(room string, q persistence.ReadQuery) (string, []any) {
	kind, args := `kind = ?`, []any{room, q.Kind}
	if q.Kind == persistence.KindDoc {
		kind, args = `kind = 'doc'`, []any{room}
	}
	lim := persistence.ReadLimit(q.Limit)
	base := `SELECT ` + sqlMessageCols + ` FROM messages WHERE room = ? AND ` + kind
	switch {
	case q.After > 0:
		return base + ` AND "offset" > ? ORDER BY "offset" ASC LIMIT ?`, append(args, int64(min(q.After, math.MaxInt64)), lim)
	case q.Before > 0:
		return base + ` AND "offset" < ? ORDER BY "offset" DESC LIMIT ?`, append(args, int64(min(q.Before, math.MaxInt64)), lim)
	}
	return base + ` ORDER BY "offset" DESC LIMIT ?`, append(args, lim)
}
