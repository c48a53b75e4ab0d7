package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/troupe-chat/troupe/persistence"
)

const (
	sqlInsertMessage = `INSERT INTO messages
		(room, "offset", id, ts, from_id, from_name, kind, text, data, reply_to, cid)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

	sqlMessageCols = `"offset", id, ts, from_id, from_name, kind, text, data, reply_to, cid`

	sqlReadAfter = `SELECT ` + sqlMessageCols + ` FROM messages
		WHERE room = ? AND "offset" > ? ORDER BY "offset" ASC LIMIT ?`
	sqlReadBefore = `SELECT ` + sqlMessageCols + ` FROM messages
		WHERE room = ? AND "offset" < ? ORDER BY "offset" DESC LIMIT ?`
	sqlReadLatest = `SELECT ` + sqlMessageCols + ` FROM messages
		WHERE room = ? ORDER BY "offset" DESC LIMIT ?`

	sqlRecentCIDs = `SELECT from_id, cid, id, "offset", ts FROM (
		SELECT from_id, cid, id, "offset", ts FROM messages
		WHERE room = ? ORDER BY "offset" DESC LIMIT ?
	) WHERE cid <> '' ORDER BY "offset" ASC`
)

// Append implements persistence.Store. In one write transaction it checks that the room
// exists under the claim's epoch and fence and that msgs continue its stream, inserts every message
// and advances the room's last offset; on any error nothing is stored.
func (s *Store) Append(ctx context.Context, room string, c persistence.Claim, msgs []persistence.Message) error {
	if err := s.check(); err != nil {
		return fmt.Errorf("sqlite: append %s: %w", room, err)
	}
	if err := s.commits.Do(ctx, roomBatch{room: room, claim: c, msgs: msgs}); err != nil {
		return fmt.Errorf("sqlite: append %s: %w", room, err)
	}
	return nil
}

// appendTx checks and inserts one room's batch inside tx.
func (s *Store) appendTx(ctx context.Context, tx *sql.Tx, room string, c persistence.Claim, msgs []persistence.Message) error {
	var stored string
	var last, fence int64
	err := tx.QueryRowContext(ctx, `SELECT epoch, last_offset, fence FROM rooms WHERE name = ?`, room).Scan(&stored, &last, &fence)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return persistence.ErrNoSuchRoom
	case err != nil:
		return err
	case stored != c.Epoch:
		return fmt.Errorf("%w: stored %s, got %s", persistence.ErrEpochMismatch, stored, c.Epoch)
	case uint64(fence) != c.Fence:
		return fmt.Errorf("%w: fence %d, latest %d", persistence.ErrFenced, c.Fence, fence)
	}
	if err := persistence.CheckBatch(uint64(last), msgs); err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil
	}
	ins := tx.StmtContext(ctx, s.insert)
	for _, m := range msgs {
		var data any // NULL unless there is data
		if len(m.Data) > 0 {
			data = m.Data
		}
		if _, err := ins.ExecContext(ctx, room, int64(m.Offset), m.ID, m.TS, m.FromID, m.FromName,
			m.Kind, m.Text, data, m.ReplyTo, m.CID); err != nil {
			return fmt.Errorf("insert offset %d: %w", m.Offset, err)
		}
	}
	newLast := int64(msgs[len(msgs)-1].Offset)
	if _, err := tx.ExecContext(ctx, `UPDATE rooms SET last_offset = ? WHERE name = ?`, newLast, room); err != nil {
		return fmt.Errorf("update last offset: %w", err)
	}
	return nil
}

// Read implements persistence.Store. An unknown room reads as an empty stream.
func (s *Store) Read(ctx context.Context, room string, q persistence.ReadQuery) (persistence.ReadResult, error) {
	if err := persistence.CheckQuery(q); err != nil {
		return persistence.ReadResult{}, fmt.Errorf("sqlite: read %s: %w", room, err)
	}
	if err := s.check(); err != nil {
		return persistence.ReadResult{}, fmt.Errorf("sqlite: read %s: %w", room, err)
	}
	res, err := s.read(ctx, room, q)
	if err != nil {
		return persistence.ReadResult{}, fmt.Errorf("sqlite: read %s: %w", room, err)
	}
	return res, nil
}

// read is Read without the error context. It asks for one row more than the
// page holds; that row's presence is More.
func (s *Store) read(ctx context.Context, room string, q persistence.ReadQuery) (persistence.ReadResult, error) {
	var stmt *sql.Stmt
	var args []any
	lim := persistence.ReadLimit(q.Limit)
	switch {
	case q.After >= math.MaxInt64:
		return persistence.ReadResult{Messages: []persistence.Message{}}, nil // no stored offset is that large
	case q.Kind != "":
	case q.After > 0:
		stmt, args = s.stReadAfter, []any{room, int64(q.After), lim}
	case q.Before > 0:
		stmt, args = s.stReadBefore, []any{room, int64(min(q.Before, math.MaxInt64)), lim}
	default:
		stmt, args = s.stReadLatest, []any{room, lim}
	}
	var rows *sql.Rows
	var err error
	if stmt != nil {
		rows, err = stmt.QueryContext(ctx, args...)
	} else {
		query, args := kindQuery(room, q)
		rows, err = s.r.QueryContext(ctx, query, args...)
	}
	if err != nil {
		return persistence.ReadResult{}, err
	}
	defer func() { _ = rows.Close() }()
	msgs := make([]persistence.Message, 0, min(q.Limit, 256)+1)
	for rows.Next() {
		var m persistence.Message
		var off int64
		if err := rows.Scan(&off, &m.ID, &m.TS, &m.FromID, &m.FromName, &m.Kind, &m.Text,
			&m.Data, &m.ReplyTo, &m.CID); err != nil {
			return persistence.ReadResult{}, err
		}
		m.Offset = uint64(off)
		if len(m.Data) == 0 {
			m.Data = nil
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return persistence.ReadResult{}, err
	}
	more := len(msgs) > q.Limit
	if more {
		msgs = msgs[:q.Limit]
	}
	if q.After == 0 { // fetched newest first
		slices.Reverse(msgs)
	}
	return persistence.ReadResult{Messages: msgs, More: more}, nil
}

// RecentCIDs implements persistence.Store. An unknown room has no entries.
func (s *Store) RecentCIDs(ctx context.Context, room string, window int) ([]persistence.DedupEntry, error) {
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("sqlite: recent cids %s: %w", room, err)
	}
	out, err := s.recentCIDs(ctx, room, window)
	if err != nil {
		return nil, fmt.Errorf("sqlite: recent cids %s: %w", room, err)
	}
	return out, nil
}

// recentCIDs is RecentCIDs without the error context.
func (s *Store) recentCIDs(ctx context.Context, room string, window int) ([]persistence.DedupEntry, error) {
	out := []persistence.DedupEntry{}
	if window <= 0 {
		return out, nil
	}
	rows, err := s.stRecentCIDs.QueryContext(ctx, room, int64(window))
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var e persistence.DedupEntry
		var off int64
		if err := rows.Scan(&e.UserID, &e.CID, &e.MsgID, &off, &e.TS); err != nil {
			return nil, err
		}
		e.Offset = uint64(off)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
