package retention

import (
	"time"

	"github.com/troupe-chat/troupe/persistence"
)

// plan returns the trims, in order and without their Limit, that bring a
// room whose stream ends at last within p at now, keeping its latest floor
// messages whatever p says: first by count (offsets up to last-MaxCount),
// then by age (messages older than now-MaxAge, up to last-floor). Each
// trims a prefix of the stream, so run one after the other they trim the
// union of the two. It returns nothing for a room at or below the floor.
func plan(last uint64, p Policy, floor int, now time.Time) []persistence.TrimRequest {
	keep := uint64(max(floor, 0))
	if last <= keep {
		return nil
	}
	floorUpTo := last - keep
	var out []persistence.TrimRequest
	if p.MaxCount > 0 && last > uint64(p.MaxCount) {
		out = append(out, persistence.TrimRequest{UpTo: min(last-uint64(p.MaxCount), floorUpTo)})
	}
	if p.MaxAge > 0 {
		out = append(out, persistence.TrimRequest{UpTo: floorUpTo, Before: now.Add(-p.MaxAge)})
	}
	return out
}
