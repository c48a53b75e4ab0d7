package faults

import (
	"context"

	"github.com/troupe-chat/troupe/persistence"
)

// SaveSnapshot implements persistence.DocStore, through gate.
func (s *Store) SaveSnapshot(ctx context.Context, room string, c persistence.Claim, snap persistence.Snapshot) (persistence.Snapshot, bool, error) {
	if err := s.gate(ctx); err != nil {
		return persistence.Snapshot{}, false, err
	}
	return s.inner.SaveSnapshot(ctx, room, c, snap)
}

// LoadSnapshot implements persistence.DocStore, through gate.
func (s *Store) LoadSnapshot(ctx context.Context, room string) (persistence.Snapshot, bool, error) {
	if err := s.gate(ctx); err != nil {
		return persistence.Snapshot{}, false, err
	}
	return s.inner.LoadSnapshot(ctx, room)
}
