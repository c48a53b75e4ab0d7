package faults

import (
	"context"
	"time"

	"github.com/troupe-chat/troupe/persistence"
)

// This file holds the retention and session methods; like the others, each
// passes through gate.

// Trim implements persistence.Store.
func (s *Store) Trim(ctx context.Context, room string, req persistence.TrimRequest) (int, error) {
	if err := s.gate(ctx); err != nil {
		return 0, err
	}
	return s.inner.Trim(ctx, room, req)
}

// OldestOffset implements persistence.Store.
func (s *Store) OldestOffset(ctx context.Context, room string) (uint64, error) {
	if err := s.gate(ctx); err != nil {
		return 0, err
	}
	return s.inner.OldestOffset(ctx, room)
}

// SaveSession implements persistence.SessionStore.
func (s *Store) SaveSession(ctx context.Context, rec persistence.SessionRecord) error {
	if err := s.gate(ctx); err != nil {
		return err
	}
	return s.inner.SaveSession(ctx, rec)
}

// LoadSession implements persistence.SessionStore.
func (s *Store) LoadSession(ctx context.Context, id string) (persistence.SessionRecord, error) {
	if err := s.gate(ctx); err != nil {
		return persistence.SessionRecord{}, err
	}
	return s.inner.LoadSession(ctx, id)
}

// SaveSessionBatch implements persistence.SessionBatchStore.
func (s *Store) SaveSessionBatch(ctx context.Context, recs []persistence.SessionRecord) error {
	if err := s.gate(ctx); err != nil {
		return err
	}
	return persistence.SaveSessions(ctx, s.inner, recs)
}

// LoadSessionBatch implements persistence.SessionBatchStore.
func (s *Store) LoadSessionBatch(ctx context.Context, ids []string) (map[string]persistence.SessionRecord, error) {
	if err := s.gate(ctx); err != nil {
		return nil, err
	}
	return persistence.LoadSessions(ctx, s.inner, ids)
}

// DeleteSession implements persistence.SessionStore.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if err := s.gate(ctx); err != nil {
		return err
	}
	return s.inner.DeleteSession(ctx, id)
}

// DeleteExpiredSessions implements persistence.SessionStore.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := s.gate(ctx); err != nil {
		return 0, err
	}
	return s.inner.DeleteExpiredSessions(ctx, now, limit)
}

var _ persistence.Store = (*Store)(nil)
