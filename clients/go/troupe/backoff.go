package troupe

import (
	"math/rand/v2"
	"time"
)

// Backoff is an exponential backoff with full jitter, as centrifuge-js uses:
// before attempt n (from 0) the client sleeps a uniformly random duration in
// [0, min(Max, Min·2ⁿ)].
type Backoff struct {
	Min time.Duration // ceiling of the first delay
	Max time.Duration // largest ceiling
}

// Ceiling returns the upper bound of the delay before attempt n.
func (b Backoff) Ceiling(n int) time.Duration {
	if b.Min <= 0 || b.Max <= 0 {
		return max(b.Max, 0)
	}
	if n < 0 {
		n = 0
	}
	if n >= 62 || b.Min > b.Max>>n {
		return b.Max
	}
	return b.Min << n
}

// Delay returns a random delay in [0, Ceiling(n)].
func (b Backoff) Delay(n int) time.Duration {
	c := b.Ceiling(n)
	if c <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(c) + 1))
}
