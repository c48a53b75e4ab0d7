package persistence

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidTrim is returned (wrapped) by Trim for a TrimRequest with
// Limit <= 0.
var ErrInvalidTrim = errors.New("persistence: invalid trim request")

// TrimRequest selects the oldest messages of a room for Trim to delete.
//
// A message matches when its offset is <= UpTo and, when Before is set, its
// TS is < Before (both bounds hold at once). The zero UpTo matches nothing;
// use math.MaxUint64 (or the room's LastOffset) to trim by age alone.
type TrimRequest struct {
	UpTo   uint64    // delete only messages with offset <= UpTo
	Before time.Time // and, when not zero, only those with TS < Before (Unix ms)
	Limit  int       // delete at most this many messages in this call; must be > 0
}

// CheckTrim rejects TrimRequest values the TrimRequest documentation rules
// out, with an error wrapping ErrInvalidTrim. Stores call it first thing in
// Trim.
func CheckTrim(req TrimRequest) error {
	if req.Limit <= 0 {
		return fmt.Errorf("%w: limit %d, want > 0", ErrInvalidTrim, req.Limit)
	}
	return nil
}

// BeforeMillis returns req.Before in Unix milliseconds, and ok false when
// the request has no age bound.
func (req TrimRequest) BeforeMillis() (ms int64, ok bool) {
	if req.Before.IsZero() {
		return 0, false
	}
	return req.Before.UnixMilli(), true
}

// Matches reports whether m is selected by req's bounds (Limit aside).
func (req TrimRequest) Matches(m Message) bool {
	if m.Offset > req.UpTo {
		return false
	}
	ms, ok := req.BeforeMillis()
	return !ok || m.TS < ms
}
