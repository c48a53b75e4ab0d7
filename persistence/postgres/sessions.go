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
	sqlLoadSession           = `SELECT user_id, name, anonymous, expires_at FROM sessions WHERE id = $1`
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
