package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/troupe-chat/troupe/persistence"
)

const (
	sqlSaveSession = `INSERT INTO sessions (id, user_id, name, anonymous, expires_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, name = excluded.name,
			anonymous = excluded.anonymous, expires_at = excluded.expires_at`
	// sqlSaveSessions is sqlSaveSession for many rows, given as arrays (no
	// id twice: ON CONFLICT may not update a row twice in one statement).
	sqlSaveSessions = `INSERT INTO sessions (id, user_id, name, anonymous, expires_at)
		SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::boolean[], $5::bigint[])
		ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, name = excluded.name,
			anonymous = excluded.anonymous, expires_at = excluded.expires_at`
	sqlLoadSession           = `SELECT user_id, name, anonymous, expires_at FROM sessions WHERE id = $1`
	sqlLoadSessions          = `SELECT id, user_id, name, anonymous, expires_at FROM sessions WHERE id = ANY($1::bytea[])`
	sqlDeleteSession         = `DELETE FROM sessions WHERE id = $1`
	sqlDeleteExpiredSessions = `DELETE FROM sessions WHERE id IN (
		SELECT id FROM sessions WHERE expires_at IS NOT NULL AND expires_at <= $1
		ORDER BY expires_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)`
)

// SaveSession implements persistence.SessionStore: one upsert.
func (s *Store) SaveSession(ctx context.Context, rec persistence.SessionRecord) error {
	if err := s.check(); err != nil {
		return fmt.Errorf("postgres: save session %s: %w", rec.ID, err)
	}
	var expires *int64 // NULL while attached
	if ms, ok := persistence.ExpiresMillis(rec.Expires); ok {
		expires = &ms
	}
	if _, err := s.pool.Exec(ctx, sqlSaveSession, bytea(rec.ID), bytea(rec.UserID), bytea(rec.Name),
		rec.Anonymous, expires); err != nil {
		return fmt.Errorf("postgres: save session %s: %w", rec.ID, s.failed(err))
	}
	return nil
}

// SaveSessionBatch implements persistence.SessionBatchStore: one upsert
// of every record (the last of each ID), in one transaction.
func (s *Store) SaveSessionBatch(ctx context.Context, recs []persistence.SessionRecord) error {
	if err := s.check(); err != nil {
		return fmt.Errorf("postgres: save %d sessions: %w", len(recs), err)
	}
	last := make(map[string]int, len(recs))
	for i, rec := range recs {
		last[rec.ID] = i
	}
	ids, users, names := make([][]byte, 0, len(last)), make([][]byte, 0, len(last)), make([][]byte, 0, len(last))
	anon, expires := make([]bool, 0, len(last)), make([]*int64, 0, len(last))
	for i, rec := range recs {
		if last[rec.ID] != i {
			continue
		}
		ids, users, names = append(ids, bytea(rec.ID)), append(users, bytea(rec.UserID)), append(names, bytea(rec.Name))
		anon = append(anon, rec.Anonymous)
		var exp *int64 // NULL while attached
		if ms, ok := persistence.ExpiresMillis(rec.Expires); ok {
			exp = &ms
		}
		expires = append(expires, exp)
	}
	if _, err := s.pool.Exec(ctx, sqlSaveSessions, ids, users, names, anon, expires); err != nil {
		return fmt.Errorf("postgres: save %d sessions: %w", len(ids), s.failed(err))
	}
	return nil
}

// LoadSessionBatch implements persistence.SessionBatchStore, in one query.
func (s *Store) LoadSessionBatch(ctx context.Context, ids []string) (map[string]persistence.SessionRecord, error) {
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("postgres: load %d sessions: %w", len(ids), err)
	}
	keys := make([][]byte, len(ids))
	for i, id := range ids {
		keys[i] = bytea(id)
	}
	rows, err := s.pool.Query(ctx, sqlLoadSessions, keys)
	if err != nil {
		return nil, fmt.Errorf("postgres: load %d sessions: %w", len(ids), s.failed(err))
	}
	defer rows.Close()
	out := make(map[string]persistence.SessionRecord, len(ids))
	for rows.Next() {
		var id, user, name []byte
		var rec persistence.SessionRecord
		var expires *int64
		if err := rows.Scan(&id, &user, &name, &rec.Anonymous, &expires); err != nil {
			return nil, fmt.Errorf("postgres: load %d sessions: %w", len(ids), err)
		}
		rec.ID, rec.UserID, rec.Name = string(id), string(user), string(name)
		if expires != nil {
			rec.Expires = persistence.ExpiresTime(*expires, true)
		}
		out[rec.ID] = rec
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: load %d sessions: %w", len(ids), s.failed(err))
	}
	return out, nil
}

// LoadSession implements persistence.SessionStore.
func (s *Store) LoadSession(ctx context.Context, id string) (persistence.SessionRecord, error) {
	if err := s.check(); err != nil {
		return persistence.SessionRecord{}, fmt.Errorf("postgres: load session %s: %w", id, err)
	}
	rec := persistence.SessionRecord{ID: id}
	var user, name []byte
	var expires *int64
	err := s.pool.QueryRow(ctx, sqlLoadSession, bytea(id)).Scan(&user, &name, &rec.Anonymous, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		err = persistence.ErrNoSuchSession
	}
	if err != nil {
		return persistence.SessionRecord{}, fmt.Errorf("postgres: load session %s: %w", id, s.failed(err))
	}
	rec.UserID, rec.Name = string(user), string(name)
	if expires != nil {
		rec.Expires = persistence.ExpiresTime(*expires, true)
	}
	return rec, nil
}

// DeleteSession implements persistence.SessionStore.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if err := s.check(); err != nil {
		return fmt.Errorf("postgres: delete session %s: %w", id, err)
	}
	if _, err := s.pool.Exec(ctx, sqlDeleteSession, bytea(id)); err != nil {
		return fmt.Errorf("postgres: delete session %s: %w", id, s.failed(err))
	}
	return nil
}

// DeleteExpiredSessions implements persistence.SessionStore, in one
// statement. Records another node is deleting at the same moment are
// skipped rather than waited for, so nodes sweeping together share the work.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := s.check(); err != nil {
		return 0, fmt.Errorf("postgres: delete expired sessions: %w", err)
	}
	if limit <= 0 {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, sqlDeleteExpiredSessions, now.UnixMilli(), int64(limit))
	if err != nil {
		return 0, fmt.Errorf("postgres: delete expired sessions: %w", s.failed(err))
	}
	return int(tag.RowsAffected()), nil
}
