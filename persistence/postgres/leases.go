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
	// sqlCreateRoom creates the room unclaimed (fence 0, no owner) unless
	// it exists; a concurrent creation commits first, then this does
	// nothing.
	sqlCreateRoom = `INSERT INTO rooms (name, epoch) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`
	// sqlLockOwner locks the room's row for the claim and reads its owner.
	sqlLockOwner = `SELECT owner FROM rooms WHERE name = $1 FOR UPDATE`
	// sqlLeaseLive tells whether the node's lease is live by the database's
	// clock. It runs as a statement of its own after sqlLockOwner, so (in
	// READ COMMITTED) it sees every lease committed before the lock was
	// granted: in particular the lease of the node whose claim it waited for.
	sqlLeaseLive = `SELECT EXISTS (SELECT 1 FROM leases WHERE node = $1 AND expires > clock_timestamp())`
	// sqlTakeRoom records a new fence and the owner on the locked room.
	sqlTakeRoom = `UPDATE rooms SET fence = nextval('fences'), owner = $2 WHERE name = $1
		RETURNING epoch, last_offset, fence, private, password_hash, max_members, no_presence`

	// sqlRenewLease sets the node's lease to expire ttl (in microseconds,
	// $2) from the database's now.
	sqlRenewLease = `INSERT INTO leases (node, expires)
		VALUES ($1, clock_timestamp() + $2::float8 * interval '1 microsecond')
		ON CONFLICT (node) DO UPDATE SET expires = excluded.expires
		RETURNING expires`
	sqlReleaseLease = `DELETE FROM leases WHERE node = $1`
	sqlLiveLeases   = `SELECT node, expires FROM leases WHERE expires > clock_timestamp() ORDER BY node`
)

// claimAttempts bounds how often ClaimRoom creates the room again when a
// DeleteRoom removes it between its creation and its lock.
const claimAttempts = 5

// ClaimRoom implements persistence.Store. In one transaction it creates
// the room when missing, locks its row, checks the owner's lease by the
// database's clock and records the new fence and owner: claims of one room
// serialise on the row lock, and each sees the claims and leases committed
// before it, so of nodes racing for a room at most one wins.
func (s *Store) ClaimRoom(ctx context.Context, room, node string) (persistence.RoomState, error) {
	if err := persistence.CheckNode(node); err != nil {
		return persistence.RoomState{}, fmt.Errorf("postgres: claim room %s: %w", room, err)
	}
	if err := s.check(); err != nil {
		return persistence.RoomState{}, fmt.Errorf("postgres: claim room %s: %w", room, err)
	}
	st, err := s.claimRoom(ctx, room, node)
	if err != nil {
		return persistence.RoomState{}, fmt.Errorf("postgres: claim room %s for %s: %w", room, node, s.failed(err))
	}
	return st, nil
}

// claimRoom is ClaimRoom without the checks and the error context.
func (s *Store) claimRoom(ctx context.Context, room, node string) (persistence.RoomState, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return persistence.RoomState{}, err
	}
	defer func() { _ = tx.Rollback(ctx) }() // after Commit, a no-op
	st := persistence.RoomState{Room: room, Owner: node}
	var owner string
	for attempt := 1; ; attempt++ {
		tag, err := tx.Exec(ctx, sqlCreateRoom, room, persistence.NewEpoch())
		if err != nil {
			return persistence.RoomState{}, fmt.Errorf("create: %w", err)
		}
		st.Created = tag.RowsAffected() == 1
		err = tx.QueryRow(ctx, sqlLockOwner, room).Scan(&owner)
		if err == nil {
			break
		}
		if !errors.Is(err, pgx.ErrNoRows) || attempt == claimAttempts {
			return persistence.RoomState{}, fmt.Errorf("lock: %w", err)
		}
		// Deleted between the two statements: create it again.
	}
	if owner != "" && owner != node {
		var live bool
		if err := tx.QueryRow(ctx, sqlLeaseLive, owner).Scan(&live); err != nil {
			return persistence.RoomState{}, fmt.Errorf("check lease of %s: %w", owner, err)
		}
		if live {
			return persistence.RoomState{}, &persistence.OwnedError{Room: room, Owner: owner}
		}
	}
	var last, fence int64
	var maxMembers int32
	if err := tx.QueryRow(ctx, sqlTakeRoom, room, node).Scan(&st.Epoch, &last, &fence,
		&st.Config.Private, &st.Config.PasswordHash, &maxMembers, &st.Config.NoPresence); err != nil {
		return persistence.RoomState{}, fmt.Errorf("record fence: %w", err)
	}
	st.LastOffset, st.Fence, st.Config.MaxMembers = uint64(last), uint64(fence), int(maxMembers)
	if err := tx.Commit(ctx); err != nil {
		return persistence.RoomState{}, err
	}
	return st, nil
}

// RenewLease implements persistence.LeaseStore: the lease expires ttl
// (kept to the microsecond) after the database's clock_timestamp().
func (s *Store) RenewLease(ctx context.Context, node string, ttl time.Duration) (persistence.Lease, error) {
	if err := persistence.CheckLease(node, ttl); err != nil {
		return persistence.Lease{}, fmt.Errorf("postgres: renew lease %s: %w", node, err)
	}
	if err := s.check(); err != nil {
		return persistence.Lease{}, fmt.Errorf("postgres: renew lease %s: %w", node, err)
	}
	l := persistence.Lease{Node: node}
	if err := s.pool.QueryRow(ctx, sqlRenewLease, node, float64(ttl.Microseconds())).Scan(&l.Expires); err != nil {
		return persistence.Lease{}, fmt.Errorf("postgres: renew lease %s: %w", node, s.failed(err))
	}
	l.Expires = l.Expires.UTC()
	return l, nil
}

// ReleaseLease implements persistence.LeaseStore.
func (s *Store) ReleaseLease(ctx context.Context, node string) error {
	if err := persistence.CheckNode(node); err != nil {
		return fmt.Errorf("postgres: release lease %s: %w", node, err)
	}
	if err := s.check(); err != nil {
		return fmt.Errorf("postgres: release lease %s: %w", node, err)
	}
	if _, err := s.pool.Exec(ctx, sqlReleaseLease, node); err != nil {
		return fmt.Errorf("postgres: release lease %s: %w", node, s.failed(err))
	}
	return nil
}

// Leases implements persistence.LeaseStore: the leases live by the
// database's clock, ordered bytewise (the column's "C" collation). Expired
// rows stay until their node renews or releases them.
func (s *Store) Leases(ctx context.Context) ([]persistence.Lease, error) {
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("postgres: leases: %w", err)
	}
	rows, err := s.pool.Query(ctx, sqlLiveLeases)
	if err != nil {
		return nil, fmt.Errorf("postgres: leases: %w", s.failed(err))
	}
	defer rows.Close()
	out := []persistence.Lease{}
	for rows.Next() {
		var l persistence.Lease
		if err := rows.Scan(&l.Node, &l.Expires); err != nil {
			return nil, fmt.Errorf("postgres: leases: %w", err)
		}
		l.Expires = l.Expires.UTC()
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: leases: %w", s.failed(err))
	}
	return out, nil
}
