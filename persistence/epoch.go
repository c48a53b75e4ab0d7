package persistence

import (
	"crypto/rand"
	"encoding/hex"
)

// NewEpoch returns a fresh random room epoch: 16 lowercase hex characters
// (64 bits from crypto/rand). Every store uses it whenever it creates a room.
func NewEpoch() string {
	var b [8]byte
	// crypto/rand.Read never returns an error (since Go 1.24 it aborts the
	// program if the system randomness source fails).
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
