package persistence

import (
	"context"
	"errors"
	"time"
)

// ErrNoSuchSession is returned (wrapped) by LoadSession for a session the
// store does not hold.
var ErrNoSuchSession = errors.New("persistence: no such session")

// SessionRecord is a client session as a node outside the one holding it sees
// it: enough to resume the session on any node.
type SessionRecord struct {
	ID        string // session id, the record's key
	UserID    string
	Name      string // display name
	Anonymous bool
	// Expires is when the detached session may be forgotten. An attached
	// session's record has a zero Expires, or, saved by a cluster node, the
	// end of a lease the node renews while the connection lasts (so the
	// record of a node that died expires too). Stores keep it to the
	// millisecond (Unix milliseconds) and return it in UTC.
	Expires time.Time
}

// SessionStore keeps client sessions, so that a client can resume its session
// on any node sharing the store. Every Store is a SessionStore.
type SessionStore interface {
	// SaveSession inserts rec, or replaces the record with its ID.
	SaveSession(ctx context.Context, rec SessionRecord) error
	// LoadSession returns the record with the id, or an error wrapping
	// ErrNoSuchSession.
	LoadSession(ctx context.Context, id string) (SessionRecord, error)
	// DeleteSession deletes the record with the id; deleting an absent
	// record is not an error.
	DeleteSession(ctx context.Context, id string) error
	// DeleteExpiredSessions deletes up to limit records whose Expires is
	// set (non-zero) and not after now, earliest expiry first, and returns
	// how many it deleted. Records with a zero Expires (attached to a live
	// connection) are never deleted by it. A limit <= 0 deletes nothing.
	DeleteExpiredSessions(ctx context.Context, now time.Time, limit int) (int, error)
}

// SessionBatchStore is a SessionStore that saves and loads many sessions
// in one round trip: a reconnect storm on a cluster node loads and saves a
// session per client. SaveSessions and LoadSessions use it when a store
// has it, and one call per session otherwise.
type SessionBatchStore interface {
	// SaveSessionBatch saves every record of recs as SaveSession would;
	// of two records with one ID the later wins.
	SaveSessionBatch(ctx context.Context, recs []SessionRecord) error
	// LoadSessionBatch returns the records of ids that exist, by ID.
	LoadSessionBatch(ctx context.Context, ids []string) (map[string]SessionRecord, error)
}

// SaveSessions saves recs into s, in one round trip when s is a
// SessionBatchStore.
func SaveSessions(ctx context.Context, s SessionStore, recs []SessionRecord) error {
	if len(recs) == 0 {
		return nil
	}
	if b, ok := s.(SessionBatchStore); ok {
		return b.SaveSessionBatch(ctx, recs)
	}
	for _, rec := range recs {
		if err := s.SaveSession(ctx, rec); err != nil {
			return err
		}
	}
	return nil
}

// LoadSessions returns the records of ids that exist in s, by ID, in one
// round trip when s is a SessionBatchStore.
func LoadSessions(ctx context.Context, s SessionStore, ids []string) (map[string]SessionRecord, error) {
	if b, ok := s.(SessionBatchStore); ok && len(ids) > 0 {
		return b.LoadSessionBatch(ctx, ids)
	}
	out := make(map[string]SessionRecord, len(ids))
	for _, id := range ids {
		rec, err := s.LoadSession(ctx, id)
		switch {
		case errors.Is(err, ErrNoSuchSession):
		case err != nil:
			return nil, err
		default:
			out[id] = rec
		}
	}
	return out, nil
}

// ExpiresMillis returns the stored form of a SessionRecord's Expires: Unix
// milliseconds, and ok false for a zero Expires (stored as absent).
func ExpiresMillis(t time.Time) (ms int64, ok bool) {
	if t.IsZero() {
		return 0, false
	}
	return t.UnixMilli(), true
}

// ExpiresTime is the inverse of ExpiresMillis: the Expires a store returns
// for a stored value (ok false: absent, the zero time).
func ExpiresTime(ms int64, ok bool) time.Time {
	if !ok {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
