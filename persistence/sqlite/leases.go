package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/troupe-chat/troupe/persistence"
)

// ownerCheck returns an *persistence.OwnedError when room is owned by a
// node other than node whose lease is live by the local clock; nil when the
// room is missing, unowned, node's own, or its owner's lease is gone. It
// runs in the claim's write transaction, so nothing changes between the
// check and the claim.
func ownerCheck(ctx context.Context, tx *sql.Tx, room, node string) error {
	var owner string
	var live bool
	err := tx.QueryRowContext(ctx, `SELECT r.owner, EXISTS (SELECT 1 FROM leases l
			WHERE l.node = r.owner AND l.expires_at > ?)
		FROM rooms r WHERE r.name = ?`, time.Now().UnixMicro(), room).Scan(&owner, &live)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("read owner: %w", err)
	case owner != "" && owner != node && live:
		return &persistence.OwnedError{Room: room, Owner: owner}
	}
	return nil
}

// RenewLease implements persistence.LeaseStore, by the local clock; the
// stored expiry is kept to the microsecond.
func (s *Store) RenewLease(ctx context.Context, node string, ttl time.Duration) (persistence.Lease, error) {
	if err := persistence.CheckLease(node, ttl); err != nil {
		return persistence.Lease{}, fmt.Errorf("sqlite: renew lease %s: %w", node, err)
	}
	if err := s.check(); err != nil {
		return persistence.Lease{}, fmt.Errorf("sqlite: renew lease %s: %w", node, err)
	}
	exp := time.Now().Add(ttl).UnixMicro()
	if _, err := s.w.ExecContext(ctx, `INSERT INTO leases (node, expires_at) VALUES (?, ?)
		ON CONFLICT (node) DO UPDATE SET expires_at = excluded.expires_at`, node, exp); err != nil {
		return persistence.Lease{}, fmt.Errorf("sqlite: renew lease %s: %w", node, err)
	}
	return persistence.Lease{Node: node, Expires: time.UnixMicro(exp).UTC()}, nil
}

// ReleaseLease implements persistence.LeaseStore.
func (s *Store) ReleaseLease(ctx context.Context, node string) error {
	if err := persistence.CheckNode(node); err != nil {
		return fmt.Errorf("sqlite: release lease %s: %w", node, err)
	}
	if err := s.check(); err != nil {
		return fmt.Errorf("sqlite: release lease %s: %w", node, err)
	}
	if _, err := s.w.ExecContext(ctx, `DELETE FROM leases WHERE node = ?`, node); err != nil {
		return fmt.Errorf("sqlite: release lease %s: %w", node, err)
	}
	return nil
}

// Leases implements persistence.LeaseStore, through the read pool. Names
// are ordered bytewise (SQLite's BINARY collation). Expired rows stay until
// their node renews or releases them.
func (s *Store) Leases(ctx context.Context) ([]persistence.Lease, error) {
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("sqlite: leases: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT node, expires_at FROM leases WHERE expires_at > ? ORDER BY node`,
		time.Now().UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("sqlite: leases: %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := []persistence.Lease{}
	for rows.Next() {
		var l persistence.Lease
		var exp int64
		if err := rows.Scan(&l.Node, &exp); err != nil {
			return nil, fmt.Errorf("sqlite: leases: %w", err)
		}
		l.Expires = time.UnixMicro(exp).UTC()
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: leases: %w", err)
	}
	return out, nil
}
