package postgres

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/troupe-chat/troupe/persistence"
)

const (
	sqlMessageCols = `"offset", id, ts, from_id, from_name, kind, text, data, reply_to, cid`

	// sqlRoomStream restricts messages to the room's current epoch; an
	// unknown room selects nothing.
	sqlRoomStream = `room = $1 AND epoch = (SELECT epoch FROM rooms WHERE name = $1)`

	sqlReadAfter = `SELECT ` + sqlMessageCols + ` FROM messages
		WHERE ` + sqlRoomStream + ` AND "offset" > $2 ORDER BY "offset" ASC LIMIT $3`
	sqlReadBefore = `SELECT ` + sqlMessageCols + ` FROM messages
		WHERE ` + sqlRoomStream + ` AND "offset" < $2 ORDER BY "offset" DESC LIMIT $3`
	sqlReadLatest = `SELECT ` + sqlMessageCols + ` FROM messages
		WHERE ` + sqlRoomStream + ` ORDER BY "offset" DESC LIMIT $2`

	sqlRecentCIDs = `SELECT from_id, cid, id, "offset", ts FROM (
		SELECT from_id, cid, id, "offset", ts FROM messages
		WHERE ` + sqlRoomStream + ` ORDER BY "offset" DESC LIMIT $2
	) recent WHERE cid <> ''::bytea ORDER BY "offset" ASC`
)

// Append implements persistence.Store. In one transaction, possibly shared
// with other rooms' appends (see group.go), it locks the room's row,
// checks that the room exists under the claim's epoch and fence and that
// msgs continue its stream, inserts every message and advances the room's
// last offset; on any error nothing of msgs is stored (but see Store on an
// error during COMMIT).
func (s *Store) Append(ctx context.Context, room string, c persistence.Claim, msgs []persistence.Message) error {
	if err := s.check(); err != nil {
		return fmt.Errorf("postgres: append %s: %w", room, err)
	}
	if err := s.commits.Do(ctx, roomBatch{room: room, claim: c, msgs: msgs}); err != nil {
		return fmt.Errorf("postgres: append %s: %w", room, s.failed(err))
	}
	return nil
}

// Read implements persistence.Store. An unknown room reads as an empty stream.
func (s *Store) Read(ctx context.Context, room string, q persistence.ReadQuery) (persistence.ReadResult, error) {
	if err := persistence.CheckQuery(q); err != nil {
		return persistence.ReadResult{}, fmt.Errorf("postgres: read %s: %w", room, err)
	}
	if err := s.check(); err != nil {
		return persistence.ReadResult{}, fmt.Errorf("postgres: read %s: %w", room, err)
	}
	res, err := s.read(ctx, room, q)
	if err != nil {
		return persistence.ReadResult{}, fmt.Errorf("postgres: read %s: %w", room, s.failed(err))
	}
	return res, nil
}

// read is Read without the error context. It asks for one row more than the
// page holds; that row's presence is More.
func (s *Store) read(ctx context.Context, room string, q persistence.ReadQuery) (persistence.ReadResult, error) {
	lim := persistence.ReadLimit(q.Limit)
	var sql string
	var args []any
	switch {
	case q.After >= math.MaxInt64:
		return persistence.ReadResult{Messages: []persistence.Message{}}, nil // no stored offset is that large
	case q.Kind != "":
		sql, args = kindQuery(room, q)
	case q.After > 0:
		sql, args = sqlReadAfter, []any{room, int64(q.After), lim}
	case q.Before > 0:
		sql, args = sqlReadBefore, []any{room, int64(min(q.Before, math.MaxInt64)), lim}
	default:
		sql, args = sqlReadLatest, []any{room, lim}
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return persistence.ReadResult{}, err
	}
	defer rows.Close()
	msgs := make([]persistence.Message, 0, min(q.Limit, 256)+1)
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return persistence.ReadResult{}, err
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

// scanMessage reads one row of sqlMessageCols.
func scanMessage(row pgx.Row) (persistence.Message, error) {
	var m persistence.Message
	var off int64
	var fromID, fromName, text, replyTo, cid []byte
	if err := row.Scan(&off, &m.ID, &m.TS, &fromID, &fromName, &m.Kind, &text,
		&m.Data, &replyTo, &cid); err != nil {
		return persistence.Message{}, err
	}
	m.Offset = uint64(off)
	m.FromID, m.FromName, m.Text = string(fromID), string(fromName), string(text)
	m.ReplyTo, m.CID = string(replyTo), string(cid)
	if len(m.Data) == 0 {
		m.Data = nil
	}
	return m, nil
}

// RecentCIDs implements persistence.Store. An unknown room has no entries.
func (s *Store) RecentCIDs(ctx context.Context, room string, window int) ([]persistence.DedupEntry, error) {
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("postgres: recent cids %s: %w", room, err)
	}
	out, err := s.recentCIDs(ctx, room, window)
	if err != nil {
		return nil, fmt.Errorf("postgres: recent cids %s: %w", room, s.failed(err))
	}
	return out, nil
}

// recentCIDs is RecentCIDs without the error context.
func (s *Store) recentCIDs(ctx context.Context, room string, window int) ([]persistence.DedupEntry, error) {
	out := []persistence.DedupEntry{}
	if window <= 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, sqlRecentCIDs, room, int64(window))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var e persistence.DedupEntry
		var off int64
		var user, cid []byte
		if err := rows.Scan(&user, &cid, &e.MsgID, &off, &e.TS); err != nil {
			return nil, err
		}
		e.UserID, e.CID, e.Offset = string(user), string(cid), uint64(off)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
