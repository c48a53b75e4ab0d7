package faults

import (
	"context"
	"time"

	"github.com/troupe-chat/troupe/persistence"
)

// This file holds the cluster methods (owned claims and node leases); like
// the others, each passes through gate.

// ClaimRoom implements persistence.Store.
func (s *Store) ClaimRoom(ctx context.Context, room, node string) (persistence.RoomState, error) {
	if err := s.gate(ctx); err != nil {
		return persistence.RoomState{}, err
	}
	return s.inner.ClaimRoom(ctx, room, node)
}

// RenewLease implements persistence.LeaseStore.
func (s *Store) RenewLease(ctx context.Context, node string, ttl time.Duration) (persistence.Lease, error) {
	if err := s.gate(ctx); err != nil {
		return persistence.Lease{}, err
	}
	return s.inner.RenewLease(ctx, node, ttl)
}

// ReleaseLease implements persistence.LeaseStore.
func (s *Store) ReleaseLease(ctx context.Context, node string) error {
	if err := s.gate(ctx); err != nil {
		return err
	}
	return s.inner.ReleaseLease(ctx, node)
}

// Leases implements persistence.LeaseStore.
func (s *Store) Leases(ctx context.Context) ([]persistence.Lease, error) {
	if err := s.gate(ctx); err != nil {
		return nil, err
	}
	return s.inner.Leases(ctx)
}
