package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/troupe-chat/troupe/persistence"
)

const (
	sqlRoomCols   = `name, epoch, last_offset, private, password_hash, max_members, owner, no_presence`
	sqlLookupRoom = `SELECT ` + sqlRoomCols + ` FROM rooms WHERE name = $1`
	sqlListRooms  = `SELECT ` + sqlRoomCols + ` FROM rooms ORDER BY name`

	// sqlClaimRoom creates the room under a new fence, or records a new
	// fence on it, without owner. On conflict the SET runs with the row
	// locked, so the fences recorded on a room grow in commit order. (The
	// VALUES' nextval is then spent unused: fences may skip, never repeat.)
	sqlClaimRoom = `INSERT INTO rooms (name, epoch, fence) VALUES ($1, $2, nextval('fences'))
		ON CONFLICT (name) DO UPDATE SET fence = nextval('fences'), owner = ''
		RETURNING epoch, last_offset, fence, private, password_hash, max_members, no_presence`

	// sqlConfigureRoom creates the room (unclaimed: fence 0) or updates its
	// configuration.
	sqlConfigureRoom = `INSERT INTO rooms (name, epoch, private, password_hash, max_members, no_presence)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (name) DO UPDATE SET private = excluded.private,
			password_hash = excluded.password_hash, max_members = excluded.max_members,
			no_presence = excluded.no_presence
		RETURNING epoch`
)

// scanRoom reads one row of sqlRoomCols.
func scanRoom(row pgx.Row) (persistence.RoomInfo, error) {
	var info persistence.RoomInfo
	var last int64
	var maxMembers int32
	err := row.Scan(&info.Room, &info.Epoch, &last, &info.Config.Private,
		&info.Config.PasswordHash, &maxMembers, &info.Owner, &info.Config.NoPresence)
	info.LastOffset, info.Config.MaxMembers = uint64(last), int(maxMembers)
	return info, err
}

// OpenRoom implements persistence.Store. Claiming is one upsert: it takes
// the next fence and records it on the room, creating the room when
// missing; concurrent calls for a new room create it once. Whether this
// call created the room shows in the returned epoch: an existing room keeps
// its own, and the fresh one this call drew (64 random bits) does not
// repeat.
func (s *Store) OpenRoom(ctx context.Context, room string) (persistence.RoomState, error) {
	if err := s.check(); err != nil {
		return persistence.RoomState{}, fmt.Errorf("postgres: open room %s: %w", room, err)
	}
	fresh := persistence.NewEpoch()
	st := persistence.RoomState{Room: room}
	var last, fence int64
	var maxMembers int32
	err := s.pool.QueryRow(ctx, sqlClaimRoom, room, fresh).Scan(&st.Epoch, &last, &fence,
		&st.Config.Private, &st.Config.PasswordHash, &maxMembers, &st.Config.NoPresence)
	if err != nil {
		return persistence.RoomState{}, fmt.Errorf("postgres: open room %s: %w", room, s.failed(err))
	}
	st.LastOffset, st.Fence, st.Config.MaxMembers = uint64(last), uint64(fence), int(maxMembers)
	st.Created = st.Epoch == fresh
	return st, nil
}

// ConfigureRoom implements persistence.Store. A room it creates gets a fresh
// epoch, an empty stream and no claim; an existing room keeps its epoch,
// stream and fence.
func (s *Store) ConfigureRoom(ctx context.Context, room string, cfg persistence.RoomConfig) (bool, error) {
	if err := s.check(); err != nil {
		return false, fmt.Errorf("postgres: configure room %s: %w", room, err)
	}
	fresh := persistence.NewEpoch()
	var epoch string
	if err := s.pool.QueryRow(ctx, sqlConfigureRoom, room, fresh, cfg.Private, cfg.PasswordHash,
		int32(cfg.MaxMembers), cfg.NoPresence).Scan(&epoch); err != nil {
		return false, fmt.Errorf("postgres: configure room %s: %w", room, s.failed(err))
	}
	return epoch == fresh, nil
}

// LookupRoom implements persistence.Store.
func (s *Store) LookupRoom(ctx context.Context, room string) (persistence.RoomInfo, error) {
	if err := s.check(); err != nil {
		return persistence.RoomInfo{}, fmt.Errorf("postgres: lookup room %s: %w", room, err)
	}
	info, err := scanRoom(s.pool.QueryRow(ctx, sqlLookupRoom, room))
	if errors.Is(err, pgx.ErrNoRows) {
		err = persistence.ErrNoSuchRoom
	}
	if err != nil {
		return persistence.RoomInfo{}, fmt.Errorf("postgres: lookup room %s: %w", room, s.failed(err))
	}
	return info, nil
}

// ListRooms implements persistence.Store. Names are ordered bytewise (the
// column's "C" collation).
func (s *Store) ListRooms(ctx context.Context) ([]persistence.RoomInfo, error) {
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("postgres: list rooms: %w", err)
	}
	rows, err := s.pool.Query(ctx, sqlListRooms)
	if err != nil {
		return nil, fmt.Errorf("postgres: list rooms: %w", s.failed(err))
	}
	defer rows.Close()
	out := []persistence.RoomInfo{}
	for rows.Next() {
		info, err := scanRoom(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list rooms: %w", err)
		}
		out = append(out, info)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list rooms: %w", s.failed(err))
	}
	return out, nil
}

// DeleteRoom implements persistence.Store. In one transaction it deletes the
// room's row, which waits for an append in flight to commit, then the
// room's messages, the append's among them, and its snapshot (in READ COMMITTED each
// statement sees what committed before it began).
func (s *Store) DeleteRoom(ctx context.Context, room string) error {
	if err := s.check(); err != nil {
		return fmt.Errorf("postgres: delete room %s: %w", room, err)
	}
	if err := s.deleteRoom(ctx, room); err != nil {
		return fmt.Errorf("postgres: delete room %s: %w", room, s.failed(err))
	}
	return nil
}

// deleteRoom is DeleteRoom without the error context.
func (s *Store) deleteRoom(ctx context.Context, room string) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }() // after Commit, a no-op
	tag, err := tx.Exec(ctx, `DELETE FROM rooms WHERE name = $1`, room)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return persistence.ErrNoSuchRoom
	}
	if _, err := tx.Exec(ctx, `DELETE FROM messages WHERE room = $1`, room); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM doc_snapshots WHERE room = $1`, room); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
