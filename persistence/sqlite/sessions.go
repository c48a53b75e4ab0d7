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
	sqlSaveSession = `INSERT INTO sessions (id, user_id, name, anonymous, expires_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, name = excluded.name,
			anonymous = excluded.anonymous, expires_at = excluded.expires_at`
	sqlLoadSession           = `SELECT user_id, name, anonymous, expires_at FROM sessions WHERE id = ?`
	sqlDeleteSession         = `DELETE FROM sessions WHERE id = ?`
	sqlDeleteExpiredSessions = `DELETE FROM sessions WHERE id IN (
		SELECT id FROM sessions WHERE expires_at IS NOT NULL AND expires_at <= ?
		ORDER BY expires_at, id LIMIT ?)`
)

// SaveSession implements persistence.SessionStore. It writes through the
// writer connection.
func (s *Store) SaveSession(ctx context.Context, rec persistence.SessionRecord) error {
	if err := s.check(); err != nil {
		return fmt.Errorf("sqlite: save session %s: %w", rec.ID, err)
	}
	var expires any // NULL while attached
	if ms, ok := persistence.ExpiresMillis(rec.Expires); ok {
		expires = ms
	}
	if _, err := s.w.ExecContext(ctx, sqlSaveSession, rec.ID, rec.UserID, rec.Name, rec.Anonymous, expires); err != nil {
		return fmt.Errorf("sqlite: save session %s: %w", rec.ID, err)
	}
	return nil
}

// LoadSession implements persistence.SessionStore. It reads through the
// read pool.
func (s *Store) LoadSession(ctx context.Context, id string) (persistence.SessionRecord, error) {
	if err := s.check(); err != nil {
		return persistence.SessionRecord{}, fmt.Errorf("sqlite: load session %s: %w", id, err)
	}
	rec := persistence.SessionRecord{ID: id}
	var expires sql.NullInt64
	err := s.r.QueryRowContext(ctx, sqlLoadSession, id).Scan(&rec.UserID, &rec.Name, &rec.Anonymous, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		err = persistence.ErrNoSuchSession
	}
	if err != nil {
		return persistence.SessionRecord{}, fmt.Errorf("sqlite: load session %s: %w", id, err)
	}
	rec.Expires = persistence.ExpiresTime(expires.Int64, expires.Valid)
	return rec, nil
}

// DeleteSession implements persistence.SessionStore.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if err := s.check(); err != nil {
		return fmt.Errorf("sqlite: delete session %s: %w", id, err)
	}
	if _, err := s.w.ExecContext(ctx, sqlDeleteSession, id); err != nil {
		return fmt.Errorf("sqlite: delete session %s: %w", id, err)
	}
	return nil
}

// DeleteExpiredSessions implements persistence.SessionStore, in one
// statement on the writer connection.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := s.check(); err != nil {
		return 0, fmt.Errorf("sqlite: delete expired sessions: %w", err)
	}
	if limit <= 0 {
		return 0, nil
	}
	res, err := s.w.ExecContext(ctx, sqlDeleteExpiredSessions, now.UnixMilli(), int64(limit))
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete expired sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete expired sessions: %w", err)
	}
	return int(n), nil
}
