package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/troupe-chat/troupe/persistence"
)

const (
	sqlLoadSnapshot = `SELECT s."offset", s.data, s.ts FROM doc_snapshots s
		JOIN rooms r ON r.name = s.room AND r.epoch = s.epoch WHERE s.room = $1`
	sqlUpsertSnapshot = `INSERT INTO doc_snapshots (room, epoch, "offset", data, ts) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (room) DO UPDATE SET epoch = excluded.epoch, "offset" = excluded."offset",
			data = excluded.data, ts = excluded.ts`
)

// SaveSnapshot implements persistence.DocStore in one transaction: it locks
// the room's row (as an append does, so the fence check and the store are
// one step against a newer claim), compares with the kept snapshot and
// upserts.
func (s *Store) SaveSnapshot(ctx context.Context, room string, c persistence.Claim, snap persistence.Snapshot) (persistence.Snapshot, bool, error) {
	if err := s.check(); err != nil {
		return persistence.Snapshot{}, false, fmt.Errorf("postgres: save snapshot %s: %w", room, err)
	}
	kept, stored, err := s.saveSnapshot(ctx, room, c, snap)
	if err != nil {
		return persistence.Snapshot{}, false, fmt.Errorf("postgres: save snapshot %s: %w", room, s.failed(err))
	}
	return kept, stored, nil
}

// saveSnapshot is SaveSnapshot without the error context.
func (s *Store) saveSnapshot(ctx context.Context, room string, c persistence.Claim, snap persistence.Snapshot) (persistence.Snapshot, bool, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return persistence.Snapshot{}, false, err
	}
	defer func() { _ = tx.Rollback(ctx) }() // after Commit, a no-op
	var st roomRow
	err = tx.QueryRow(ctx, `SELECT epoch, last_offset, fence FROM rooms WHERE name = $1 FOR UPDATE`, room).
		Scan(&st.epoch, &st.last, &st.fence)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return persistence.Snapshot{}, false, persistence.ErrNoSuchRoom
	case err != nil:
		return persistence.Snapshot{}, false, err
	case st.epoch != c.Epoch:
		return persistence.Snapshot{}, false, fmt.Errorf("%w: stored %s, got %s", persistence.ErrEpochMismatch, st.epoch, c.Epoch)
	case uint64(st.fence) != c.Fence:
		return persistence.Snapshot{}, false, fmt.Errorf("%w: fence %d, latest %d", persistence.ErrFenced, c.Fence, st.fence)
	}
	if err := persistence.CheckSnapshot(uint64(st.last), snap); err != nil {
		return persistence.Snapshot{}, false, err
	}
	old, ok, err := loadSnapshot(tx.QueryRow(ctx, sqlLoadSnapshot, room))
	if err != nil {
		return persistence.Snapshot{}, false, fmt.Errorf("kept snapshot: %w", err)
	}
	if ok && old.Offset >= snap.Offset {
		return old, false, nil
	}
	if _, err := tx.Exec(ctx, sqlUpsertSnapshot, room, st.epoch, int64(snap.Offset), snap.Data, snap.TS); err != nil {
		return persistence.Snapshot{}, false, fmt.Errorf("store snapshot: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return persistence.Snapshot{}, false, err
	}
	return snap, true, nil
}

// LoadSnapshot implements persistence.DocStore.
func (s *Store) LoadSnapshot(ctx context.Context, room string) (persistence.Snapshot, bool, error) {
	if err := s.check(); err != nil {
		return persistence.Snapshot{}, false, fmt.Errorf("postgres: load snapshot %s: %w", room, err)
	}
	snap, ok, err := loadSnapshot(s.pool.QueryRow(ctx, sqlLoadSnapshot, room))
	if err != nil {
		return persistence.Snapshot{}, false, fmt.Errorf("postgres: load snapshot %s: %w", room, s.failed(err))
	}
	return snap, ok, nil
}

// loadSnapshot scans one row of sqlLoadSnapshot; ok is false for none.
func loadSnapshot(row pgx.Row) (snap persistence.Snapshot, ok bool, err error) {
	var off int64
	err = row.Scan(&off, &snap.Data, &snap.TS)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return persistence.Snapshot{}, false, nil
	case err != nil:
		return persistence.Snapshot{}, false, err
	}
	snap.Offset = uint64(off)
	return snap, true, nil
}

// kindQuery returns the statement and arguments of a Read with a Kind. The
// document kind is written into the statement, so that the planner reads it
// through the partial index messages_doc; other kinds are bound.
func kindQuery(room string, q persistence.ReadQuery) (string, []any) {
	kind, args := ` AND kind = $2`, []any{room, q.Kind}
	if q.Kind == persistence.KindDoc {
		kind, args = ` AND kind = 'doc'`, []any{room}
	}
	next := func() string { return "$" + strconv.Itoa(len(args)+1) }
	base := `SELECT ` + sqlMessageCols + ` FROM messages WHERE ` + sqlRoomStream + kind
	lim := persistence.ReadLimit(q.Limit)
	switch {
	case q.After > 0:
		p := next()
		args = append(args, int64(min(q.After, math.MaxInt64)))
		return base + ` AND "offset" > ` + p + ` ORDER BY "offset" ASC LIMIT ` + next(), append(args, lim)
	case q.Before > 0:
		p := next()
		args = append(args, int64(min(q.Before, math.MaxInt64)))
		return base + ` AND "offset" < ` + p + ` ORDER BY "offset" DESC LIMIT ` + next(), append(args, lim)
	}
	return base + ` ORDER BY "offset" DESC LIMIT ` + next(), append(args, lim)
}
