package persistence

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ClaimRoom implements Store. The lease check and the claim happen under
// one exclusive lock, by the local clock.
func (m *Memory) ClaimRoom(ctx context.Context, room, node string) (RoomState, error) {
	if err := CheckNode(node); err != nil {
		return RoomState{}, fmt.Errorf("memory: claim room %s: %w", room, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.lockCheck(ctx, "claim room", room); err != nil {
		return RoomState{}, err
	}
	if r := m.rooms[room]; r != nil && r.owner != "" && r.owner != node {
		if exp, ok := m.leases[r.owner]; ok && exp.After(time.Now()) {
			return RoomState{}, fmt.Errorf("memory: claim room %s for %s: %w", room, node,
				&OwnedError{Room: room, Owner: r.owner})
		}
	}
	return m.claimLocked(room, node), nil
}

// RenewLease implements LeaseStore, by the local clock.
func (m *Memory) RenewLease(ctx context.Context, node string, ttl time.Duration) (Lease, error) {
	if err := CheckLease(node, ttl); err != nil {
		return Lease{}, fmt.Errorf("memory: renew lease %s: %w", node, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.lockCheck(ctx, "renew lease", node); err != nil {
		return Lease{}, err
	}
	exp := time.Now().Add(ttl) // keeps the monotonic reading for the comparisons
	m.leases[node] = exp
	return Lease{Node: node, Expires: exp.UTC()}, nil
}

// ReleaseLease implements LeaseStore.
func (m *Memory) ReleaseLease(ctx context.Context, node string) error {
	if err := CheckNode(node); err != nil {
		return fmt.Errorf("memory: release lease %s: %w", node, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.lockCheck(ctx, "release lease", node); err != nil {
		return err
	}
	delete(m.leases, node)
	return nil
}

// Leases implements LeaseStore. Expired leases are left in place (a renewal
// revives them) but not listed.
func (m *Memory) Leases(ctx context.Context) ([]Lease, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.lockCheck(ctx, "leases", ""); err != nil {
		return nil, err
	}
	now := time.Now()
	out := []Lease{}
	for node, exp := range m.leases {
		if exp.After(now) {
			out = append(out, Lease{Node: node, Expires: exp.UTC()})
		}
	}
	slices.SortFunc(out, func(a, b Lease) int { return strings.Compare(a.Node, b.Node) })
	return out, nil
}
