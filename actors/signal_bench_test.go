package actors_test

import (
	"fmt"
	"testing"

	"github.com/troupe-chat/troupe/actors"
)

// BenchmarkRoomSignal1000 measures one signal through the engine (the
// sender's connection actor, the room: encode once, OfferLatest to every
// other member) to 1,000 members' outboxes. It reports offers/s; nothing is
// stored.
func BenchmarkRoomSignal1000(b *testing.B) {
	const members = 1000
	peers, handles := benchRoom(b, members, func(c *actors.Config) { c.SignalRate = 0 })
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
