package actors

import (
	"fmt"
	"testing"
	"time"
)

// TestPresenceGatheringGrowsWithTheRoom: a room of two pushes a join after
// --presence-interval; a room of 21 connections gathers three intervals
// (one more per 10 connections) before it pushes.
func TestPresenceGatheringGrowsWithTheRoom(t *testing.T) {
	k := newKit(t, nil)
	cfg := DefaultConfig()
	step := cfg.PresenceInterval

	noDiffYet := func(p *probe, room, when string) {
		t.Helper()
		p.sync(room)
		for _, f := range p.pending() {
			if d, ok := f.(PresenceDiff); ok {
				t.Fatalf("%s: presence_diff already pushed: %+v", when, d)
			}
		}
	}

	small := k.member("small-a")
	small.join("s")
	k.member("small-b").join("s") // in the batch small-a's join opened
	noDiffYet(small, "s", "small room, at once")
	k.clock.Advance(step)
	if d := skipTo[PresenceDiff](small); len(d.Joins) != 1 || d.Joins[0].Name != "small-b" {
		t.Fatalf("small room after one interval: %+v, want small-b joining", d)
	}

	big := make([]*probe, 20)
	for i := range big {
		big[i] = k.member(fmt.Sprintf("big-%d", i))
		big[i].join("b")
	}
	k.clock.Advance(cfg.PresenceIntervalMax)
	ann := big[0]
	if d := skipTo[PresenceDiff](ann); len(d.Joins) != len(big)-1 {
		t.Fatalf("the first batch of the big room: %+v, want the 19 others joining", d)
	}
	k.member("late").join("b") // 21 connections: 3 intervals
	k.clock.Advance(3*step - time.Millisecond)
	noDiffYet(ann, "b", "room of 21, just before three intervals")
	k.clock.Advance(time.Millisecond)
	if d := skipTo[PresenceDiff](ann); len(d.Joins) != 1 || d.Joins[0].Name != "late" {
		t.Fatalf("room of 21 after three intervals: %+v, want late joining", d)
	}
}
