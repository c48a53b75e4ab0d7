package actors_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/metrics"
	"github.com/troupe-chat/troupe/metrics/registry"
	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/transport/wire"
)

// BenchmarkRoomSignal1000 measures one signal through the engine (the
// sender's connection actor, the room: encode once, OfferLatest to every
// other member) to 1,000 members' outboxes. It reports offers/s; nothing is
// stored.
func BenchmarkRoomSignal1000(b *testing.B) {
	const members = 1000
	cfg := actors.DefaultConfig()
	cfg.Anonymous = true
	cfg.RateLimit = 0
	cfg.SignalRate = 0
	eng, err := actors.New(cfg, actors.Deps{
		Store: persistence.NewMemory(), Encoder: wire.Encoder{}, Metrics: metrics.New(registry.New()),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = eng.Shutdown(b.Context()) })

	// As in BenchmarkRoomBroadcast1000: when the last member to join has
	// the signal, every member has.
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
	last := peers[members]
	sent := 0
	for b.Loop() {
		sent++
		last.target.Store(last.frames.Load() + 1)
		handles[0].Post(actors.Signal{Room: "bench", Key: "cursor", Data: []byte(fmt.Sprintf(`{"x":%d}`, sent))})
		<-last.done
	}
	b.ReportMetric(float64(sent*members)/b.Elapsed().Seconds(), "offers/s")
}
