package actors

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/troupe-chat/troupe/metrics"
)

// pingCounter is a Peer that counts its pings and is always active.
type pingCounter struct {
	pings  atomic.Int32
	active time.Time
}

func (p *pingCounter) Enqueue([]byte) bool             { return true }
func (p *pingCounter) Offer([]byte) bool               { return true }
func (p *pingCounter) OfferLatest(string, []byte) bool { return true }
func (p *pingCounter) Ping()                           { p.pings.Add(1) }
func (p *pingCounter) Close(int, string)               {}
func (p *pingCounter) LastActive() time.Time           { return p.active }

var _ Peer = (*pingCounter)(nil)

// TestHeartbeatSpreadsPingsOverTheInterval drives one shard's ticks by
// hand: it pings its connections a slot at a time through the interval, not
// all in one instant; each connection once per interval, and not before it
// has been open for an interval.
func TestHeartbeatSpreadsPingsOverTheInterval(t *testing.T) {
	cfg := DefaultConfig()
	clock := clockwork.NewFakeClockAt(time.UnixMilli(1_700_000_000_000))
	h := &heartbeatShard{env: &env{cfg: cfg, clock: clock, metrics: metrics.New(prometheus.NewRegistry())},
		children: make(map[string]*shardChild), shards: 1}
	h.scheduleSlots(clock.Now())
	peers := make([]*pingCounter, 2*heartbeatSlots)
	for i := range peers {
		peers[i] = &pingCounter{active: clock.Now()}
		h.children[fmt.Sprint(i)] = &shardChild{peer: peers[i], welcomed: true, slot: i % heartbeatSlots, opened: clock.Now()}
	}
	pinged := func() (n int) {
		for _, p := range peers {
			n += int(p.pings.Load())
		}
		return n
	}
	step := cfg.HeartbeatInterval / heartbeatSlots
	for range heartbeatSlots - 1 {
		clock.Advance(step)
		h.tick()
	}
	if got := pinged(); got != 0 {
		t.Fatalf("%d pings before the connections were open for an interval, want none", got)
	}
	for slot := 1; slot <= heartbeatSlots; slot++ {
		for _, p := range peers {
			p.active = clock.Now() // live: never timed out
		}
		clock.Advance(step)
		h.tick()
		if got := pinged(); got != 2*slot {
			t.Fatalf("after %d of %d steps from an interval on: %d pings, want %d (one slot of 2 connections per step)", slot, heartbeatSlots, got, 2*slot)
		}
	}
	for i, p := range peers {
		if n := p.pings.Load(); n != 1 {
			t.Fatalf("connection %d pinged %d times in one interval, want 1", i, n)
		}
	}
	// A tick after a jump of a whole interval (a stalled shard, a fake
	// clock) serves every slot at once.
	clock.Advance(cfg.HeartbeatInterval)
	h.tick()
	if got := pinged(); got != 4*heartbeatSlots {
		t.Fatalf("after a jump of an interval: %d pings, want %d", got, 4*heartbeatSlots)
	}
}
