package persistence

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrOwned is returned (wrapped in an *OwnedError) by ClaimRoom when the room
// is owned by another node whose lease is live: nothing was claimed.
var ErrOwned = errors.New("persistence: room owned by another live node")

// ErrInvalidLease is returned (wrapped) by RenewLease, ReleaseLease and
// ClaimRoom for a node name CheckNode rejects, and by RenewLease for a ttl
// that is not positive.
var ErrInvalidLease = errors.New("persistence: invalid lease")

// OwnedError is the error of a ClaimRoom refused because another node owns
// the room under a live lease. It wraps ErrOwned; get at its fields with
// errors.As.
type OwnedError struct {
	Room  string // the room asked for
	Owner string // the node that owns it
}

// Error describes the refusal.
func (e *OwnedError) Error() string {
	return fmt.Sprintf("%v: room %q is owned by node %q", ErrOwned, e.Room, e.Owner)
}

// Unwrap returns ErrOwned, so errors.Is(err, ErrOwned) holds.
func (e *OwnedError) Unwrap() error { return ErrOwned }

// Lease is a node's claim to be alive: the node counts as live while the
// store's clock is before Expires. Stores return Expires in UTC.
type Lease struct {
	Node    string
	Expires time.Time
}

// LeaseStore keeps node leases, renewed by every node of a cluster sharing
// the store. Every Store is a LeaseStore. Time is the store's: a store
// shared by several nodes (PostgreSQL) judges expiry by the database's
// clock, never by a caller's; stores of one node (SQLite, memory) use the
// local clock.
type LeaseStore interface {
	// RenewLease inserts the node's lease, or replaces it, so that it
	// expires ttl from the store's now; it returns the lease as stored.
	// Renewing may shorten a lease, and revives an expired one (the node's
	// rooms claimed by others meanwhile stay theirs). A node CheckNode
	// rejects, or a ttl <= 0, fails with ErrInvalidLease.
	RenewLease(ctx context.Context, node string, ttl time.Duration) (Lease, error)
	// ReleaseLease deletes the node's lease, as a node shutting down
	// gracefully does: the rooms it owns can be claimed by other nodes at
	// once. Releasing an absent lease is not an error.
	ReleaseLease(ctx context.Context, node string) error
	// Leases returns the live leases (Expires after the store's now),
	// ordered by node name bytewise; an empty, non-nil slice when none is.
	Leases(ctx context.Context) ([]Lease, error)
}

// CheckNode returns an error wrapping ErrInvalidLease unless node can name a
// node: non-empty valid UTF-8 without NUL bytes. The empty name is reserved
// for claims without an owner (OpenRoom).
func CheckNode(node string) error {
	switch {
	case node == "":
		return fmt.Errorf("%w: empty node name", ErrInvalidLease)
	case !utf8.ValidString(node) || strings.IndexByte(node, 0) >= 0:
		return fmt.Errorf("%w: node name %q is not valid UTF-8 without NUL", ErrInvalidLease, node)
	}
	return nil
}

// CheckLease returns an error wrapping ErrInvalidLease unless RenewLease may
// renew node's lease for ttl: CheckNode accepts node and ttl is positive.
func CheckLease(node string, ttl time.Duration) error {
	if err := CheckNode(node); err != nil {
		return err
	}
	if ttl <= 0 {
		return fmt.Errorf("%w: ttl %v is not positive", ErrInvalidLease, ttl)
	}
	return nil
}
