package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/troupe-chat/troupe/persistence"
)

const (
	sqlSelectRoom = `SELECT name, epoch, last_offset, private, password_hash, max_members, owner, no_presence FROM rooms`
	sqlLookupRoom = sqlSelectRoom + ` WHERE name = ?`
)

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}

// scanRoom reads one row selected by sqlSelectRoom.
func scanRoom(row rowScanner) (persistence.RoomInfo, error) {
	var info persistence.RoomInfo
	var last int64
	err := row.Scan(&info.Room, &info.Epoch, &last, &info.Config.Private,
		&info.Config.PasswordHash, &info.Config.MaxMembers, &info.Owner, &info.Config.NoPresence)
	info.LastOffset = uint64(last)
	return info, err
}

// lookupRoom returns the room's row, read within tx or, when tx is nil,
// through the read pool; or an error wrapping persistence.ErrNoSuchRoom.
func (s *Store) lookupRoom(ctx context.Context, tx *sql.Tx, room string) (persistence.RoomInfo, error) {
	var row *sql.Row
	if tx != nil {
		row = tx.QueryRowContext(ctx, sqlLookupRoom, room)
	} else {
		row = s.stLookup.QueryRowContext(ctx, room)
	}
	info, err := scanRoom(row)
	if errors.Is(err, sql.ErrNoRows) {
		return persistence.RoomInfo{}, persistence.ErrNoSuchRoom
	}
	return info, err
}

// insertRoom creates the room with a fresh epoch and an empty stream, under
// fence (0 for a room configured but not yet claimed) and owner ("" for
// none).
func insertRoom(ctx context.Context, tx *sql.Tx, room string, cfg persistence.RoomConfig, fence int64, owner string) (string, error) {
	epoch := persistence.NewEpoch()
	_, err := tx.ExecContext(ctx, `INSERT INTO rooms
		(name, epoch, last_offset, private, password_hash, max_members, created_at, fence, owner, no_presence)
		VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?, ?)`,
		room, epoch, cfg.Private, cfg.PasswordHash, cfg.MaxMembers, time.Now().UnixMilli(), fence, owner, cfg.NoPresence)
	return epoch, err
}

// OpenRoom implements persistence.Store. Claiming is a write: it takes the
// next fence and records it on the room, creating the room when missing, in
// one transaction.
func (s *Store) OpenRoom(ctx context.Context, room string) (persistence.RoomState, error) {
	if err := s.check(); err != nil {
		return persistence.RoomState{}, fmt.Errorf("sqlite: open room %s: %w", room, err)
	}
	st, err := s.claimRoom(ctx, room, "")
	if err != nil {
		return persistence.RoomState{}, fmt.Errorf("sqlite: open room %s: %w", room, err)
	}
	return st, nil
}

// ClaimRoom implements persistence.Store. The owner's lease is checked, by
// the local clock, in the claim's write transaction (BEGIN IMMEDIATE), so
// claims of this process and of others sharing the file serialise.
func (s *Store) ClaimRoom(ctx context.Context, room, node string) (persistence.RoomState, error) {
	if err := persistence.CheckNode(node); err != nil {
		return persistence.RoomState{}, fmt.Errorf("sqlite: claim room %s: %w", room, err)
	}
	if err := s.check(); err != nil {
		return persistence.RoomState{}, fmt.Errorf("sqlite: claim room %s: %w", room, err)
	}
	st, err := s.claimRoom(ctx, room, node)
	if err != nil {
		return persistence.RoomState{}, fmt.Errorf("sqlite: claim room %s for %s: %w", room, node, err)
	}
	return st, nil
}

// claimRoom is OpenRoom (node "") and ClaimRoom without the error context.
func (s *Store) claimRoom(ctx context.Context, room, node string) (persistence.RoomState, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return persistence.RoomState{}, err
	}
	defer func() { _ = tx.Rollback() }()
	if node != "" {
		if err := ownerCheck(ctx, tx, room, node); err != nil {
			return persistence.RoomState{}, err
		}
	}
	var fence int64
	if err := tx.QueryRowContext(ctx,
		`UPDATE claims SET last_fence = last_fence + 1 WHERE id = 1 RETURNING last_fence`).Scan(&fence); err != nil {
		return persistence.RoomState{}, fmt.Errorf("next fence: %w", err)
	}
	st := persistence.RoomState{Room: room, Fence: uint64(fence), Owner: node}
	info, err := s.lookupRoom(ctx, tx, room)
	switch {
	case err == nil:
		st.Epoch, st.LastOffset, st.Config = info.Epoch, info.LastOffset, info.Config
		if _, err := tx.ExecContext(ctx, `UPDATE rooms SET fence = ?, owner = ? WHERE name = ?`, fence, node, room); err != nil {
			return persistence.RoomState{}, fmt.Errorf("record fence: %w", err)
		}
	case errors.Is(err, persistence.ErrNoSuchRoom):
		if st.Epoch, err = insertRoom(ctx, tx, room, persistence.RoomConfig{}, fence, node); err != nil {
			return persistence.RoomState{}, err
		}
		st.Created = true
	default:
		return persistence.RoomState{}, err
	}
	if err := tx.Commit(); err != nil {
		return persistence.RoomState{}, err
	}
	return st, nil
}

// ConfigureRoom implements persistence.Store. A room it creates gets a fresh epoch and an
// empty stream; an existing room keeps its epoch and stream.
func (s *Store) ConfigureRoom(ctx context.Context, room string, cfg persistence.RoomConfig) (bool, error) {
	if err := s.check(); err != nil {
		return false, fmt.Errorf("sqlite: configure room %s: %w", room, err)
	}
	created, err := s.configureRoom(ctx, room, cfg)
	if err != nil {
		return false, fmt.Errorf("sqlite: configure room %s: %w", room, err)
	}
	return created, nil
}

// configureRoom is ConfigureRoom without the error context.
func (s *Store) configureRoom(ctx context.Context, room string, cfg persistence.RoomConfig) (bool, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer func() { _ = tx.Rollback() }()
	res, err := tx.ExecContext(ctx,
		`UPDATE rooms SET private = ?, password_hash = ?, max_members = ?, no_presence = ? WHERE name = ?`,
		cfg.Private, cfg.PasswordHash, cfg.MaxMembers, cfg.NoPresence, room)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	created := n == 0
	if created {
		if _, err := insertRoom(ctx, tx, room, cfg, 0, ""); err != nil {
			return false, err
		}
	}
	return created, tx.Commit()
}

// LookupRoom implements persistence.Store.
func (s *Store) LookupRoom(ctx context.Context, room string) (persistence.RoomInfo, error) {
	if err := s.check(); err != nil {
		return persistence.RoomInfo{}, fmt.Errorf("sqlite: lookup room %s: %w", room, err)
	}
	info, err := s.lookupRoom(ctx, nil, room)
	if err != nil {
		return persistence.RoomInfo{}, fmt.Errorf("sqlite: lookup room %s: %w", room, err)
	}
	return info, nil
}

// ListRooms implements persistence.Store. Names are ordered bytewise (SQLite's BINARY
// collation).
func (s *Store) ListRooms(ctx context.Context) ([]persistence.RoomInfo, error) {
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("sqlite: list rooms: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, sqlSelectRoom+` ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list rooms: %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := []persistence.RoomInfo{}
	for rows.Next() {
		info, err := scanRoom(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list rooms: %w", err)
		}
		out = append(out, info)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list rooms: %w", err)
	}
	return out, nil
}

// DeleteRoom implements persistence.Store. The room's messages, its
// snapshot and its row go in one transaction.
func (s *Store) DeleteRoom(ctx context.Context, room string) error {
	if err := s.check(); err != nil {
		return fmt.Errorf("sqlite: delete room %s: %w", room, err)
	}
	if err := s.deleteRoom(ctx, room); err != nil {
		return fmt.Errorf("sqlite: delete room %s: %w", room, err)
	}
	return nil
}

// deleteRoom is DeleteRoom without the error context.
func (s *Store) deleteRoom(ctx context.Context, room string) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE room = ?`, room); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM doc_snapshots WHERE room = ?`, room); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM rooms WHERE name = ?`, room)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return persistence.ErrNoSuchRoom
	}
	return tx.Commit()
}
