package persistence

import (
	"bytes"
	"fmt"
)

// This file holds checks and conversions every Store implementation shares,
// so that the stores agree on what they accept and report.

// CheckQuery rejects ReadQuery values the ReadQuery documentation rules out,
// with an error wrapping ErrInvalidQuery. Stores call it first thing in Read.
func CheckQuery(q ReadQuery) error {
	if q.Limit <= 0 {
		return fmt.Errorf("%w: limit %d, want > 0", ErrInvalidQuery, q.Limit)
	}
	if q.After > 0 && q.Before > 0 {
		return fmt.Errorf("%w: both after (%d) and before (%d) set", ErrInvalidQuery, q.After, q.Before)
	}
	return nil
}

// CheckBatch reports whether msgs continue a stream whose last offset is last:
// the first offset must be last+1 and the rest consecutive. Its error wraps
// ErrOffsetMismatch and names the offending offsets. An empty batch passes.
func CheckBatch(last uint64, msgs []Message) error {
	for i, m := range msgs {
		if want := last + 1 + uint64(i); m.Offset != want {
			if i == 0 {
				return fmt.Errorf("%w: batch starts at offset %d, stream is at %d (want %d)",
					ErrOffsetMismatch, m.Offset, last, want)
			}
			return fmt.Errorf("%w: batch index %d has offset %d, want %d",
				ErrOffsetMismatch, i, m.Offset, want)
		}
	}
	return nil
}

// normData returns the stored form of a message's Data: nil when empty,
// otherwise a private copy.
func normData(d []byte) []byte {
	if len(d) == 0 {
		return nil
	}
	return bytes.Clone(d)
}

// ReadLimit returns the row limit to query for a page of limit messages: one
// more, so the extra row's presence tells whether more exist (ReadResult.More).
// It saturates instead of overflowing for huge limits such as math.MaxInt.
func ReadLimit(limit int) int64 {
	l := int64(limit)
	if l < 1<<62 {
		l++
	}
	return l
}

// CheckSnapshot rejects a snapshot SaveSnapshot must refuse for a room whose
// last offset is last, with an error wrapping ErrInvalidSnapshot.
func CheckSnapshot(last uint64, s Snapshot) error {
	if len(s.Data) == 0 {
		return fmt.Errorf("%w: no data", ErrInvalidSnapshot)
	}
	if s.Offset == 0 || s.Offset > last {
		return fmt.Errorf("%w: offset %d outside the stream's 1..%d", ErrInvalidSnapshot, s.Offset, last)
	}
	return nil
}
