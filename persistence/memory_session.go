package persistence

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// normSession returns rec as a store returns it: Expires to the millisecond,
// in UTC (zero stays zero).
func normSession(rec SessionRecord) SessionRecord {
	rec.Expires = ExpiresTime(ExpiresMillis(rec.Expires))
	return rec
}

// SaveSession implements SessionStore.
func (m *Memory) SaveSession(ctx context.Context, rec SessionRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.lockCheck(ctx, "save session", rec.ID); err != nil {
		return err
	}
	m.sessions[rec.ID] = normSession(rec)
	return nil
}

// LoadSession implements SessionStore.
func (m *Memory) LoadSession(ctx context.Context, id string) (SessionRecord, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.lockCheck(ctx, "load session", id); err != nil {
		return SessionRecord{}, err
	}
	rec, ok := m.sessions[id]
	if !ok {
		return SessionRecord{}, fmt.Errorf("memory: load session %s: %w", id, ErrNoSuchSession)
	}
	return rec, nil
}

// DeleteSession implements SessionStore.
func (m *Memory) DeleteSession(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.lockCheck(ctx, "delete session", id); err != nil {
		return err
	}
	delete(m.sessions, id)
	return nil
}

// DeleteExpiredSessions implements SessionStore.
func (m *Memory) DeleteExpiredSessions(ctx context.Context, now time.Time, limit int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.lockCheck(ctx, "delete expired sessions", ""); err != nil {
		return 0, err
	}
	if limit <= 0 {
		return 0, nil
	}
	cut := now.UnixMilli()
	var expired []SessionRecord
	for _, rec := range m.sessions {
		if ms, ok := ExpiresMillis(rec.Expires); ok && ms <= cut {
			expired = append(expired, rec)
		}
	}
	slices.SortFunc(expired, func(a, b SessionRecord) int {
		return cmp.Or(a.Expires.Compare(b.Expires), cmp.Compare(a.ID, b.ID))
	})
	expired = expired[:min(limit, len(expired))]
	for _, rec := range expired {
		delete(m.sessions, rec.ID)
	}
	return len(expired), nil
}
