package actors_test

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/metrics"
	"github.com/troupe-chat/troupe/metrics/registry"
	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/transport/wire"
)

// countingPeer is an in-memory connection for benchmarks: it counts the
// frames it is given and signals when a target is reached. Benchmarks leave
// out the network on purpose, to measure the engine's own share.
type countingPeer struct {
	frames atomic.Int64
	target atomic.Int64
	done   chan struct{}
}

func newCountingPeer() *countingPeer { return &countingPeer{done: make(chan struct{}, 1)} }

func (p *countingPeer) Enqueue([]byte) bool {
	if p.frames.Add(1) == p.target.Load() {
		p.done <- struct{}{}
	}
	return true
}
func (p *countingPeer) Offer(b []byte) bool                 { return p.Enqueue(b) }
func (p *countingPeer) OfferLatest(_ string, b []byte) bool { return p.Enqueue(b) }
func (p *countingPeer) Ping()                               {}
func (p *countingPeer) Close(int, string)                   {}
func (p *countingPeer) LastActive() time.Time               { return time.Now() }

// BenchmarkRoomBroadcast1000 measures one message through the engine — the
// sender's connection actor, the room (store batch in the memory store, ack,
// encode once) — to 1,000 members' outboxes. It reports deliveries/s.
func BenchmarkRoomBroadcast1000(b *testing.B) {
	const members = 1000
	peers, handles := benchRoom(b, members, nil)
	last := peers[members]
	b.ResetTimer()
	sent := 0
	for b.Loop() {
		sent++
		last.target.Store(last.frames.Load() + 1)
		handles[0].Post(actors.Send{ID: int64(10 + sent), Room: "bench", Kind: "text", Text: "hello", CID: strconv.Itoa(sent)})
		<-last.done
	}
	b.ReportMetric(float64(sent*members)/b.Elapsed().Seconds(), "deliveries/s")
}

// benchRoom starts an engine (anonymous, no rate limit, a memory store;
// tweak may change more) and connects members+1 counting peers that join the
// room "bench" in turn: peers[0] first, the one that sends. The last to join
// hears of nobody joining after it, and a room sends each frame to its
// members in join order: when the last member has a frame, all have.
func benchRoom(b *testing.B, members int, tweak func(*actors.Config)) ([]*countingPeer, []*actors.ConnHandle) {
	b.Helper()
	cfg := actors.DefaultConfig()
	cfg.Anonymous = true
	cfg.RateLimit = 0
	if tweak != nil {
		tweak(&cfg)
	}
	eng, err := actors.New(cfg, actors.Deps{
		Store: persistence.NewMemory(), Encoder: wire.Encoder{}, Metrics: metrics.New(registry.New()),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = eng.Shutdown(b.Context()) })
	peers := make([]*countingPeer, members+1)
	handles := make([]*actors.ConnHandle, members+1)
	for i := range peers {
		peers[i] = newCountingPeer()
		h, err := eng.Connect(peers[i], actors.ConnInfo{RemoteIP: "127.0.0.1", Opened: time.Now()})
		if err != nil {
			b.Fatal(err)
		}
		handles[i] = h
		peers[i].target.Store(2) // welcome, joined
		h.Post(actors.Hello{ID: 1, Name: fmt.Sprintf("m%d", i)})
		h.Post(actors.Join{ID: 2, Room: "bench", History: -1})
		<-peers[i].done
	}
	return peers, handles
}
