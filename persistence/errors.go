package persistence

import "errors"

// ErrOffsetMismatch is returned (wrapped, with the offending offsets) by Append
// when the batch does not continue the room's stream: its first offset is not
// the stored last offset + 1, or its offsets are not consecutive. Nothing of
// the batch is stored.
var ErrOffsetMismatch = errors.New("persistence: offsets do not continue the stream")

// ErrInvalidQuery is returned (wrapped) by Read for a ReadQuery with Limit <= 0
// or with both After and Before set.
var ErrInvalidQuery = errors.New("persistence: invalid read query")

// ErrClosed is returned (wrapped) by every method of a store after Close,
// except Close itself, which may be called again and then returns nil.
var ErrClosed = errors.New("persistence: store closed")
