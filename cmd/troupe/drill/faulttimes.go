package drill

import (
	"sync"
	"time"

	"github.com/troupe-chat/troupe/actors/drills"
)

// faultTimes measures what one node fault cost, from the moment the node
// was signalled:
//   - re-placement, per room the node owned: until the first ack of a send
//     made in that room after the signal (a surviving node then owns it);
//   - reconnect, per client connected to the node at the signal: until it
//     has rejoined its rooms on another node.
//
// Before the signal it records nothing.
type faultTimes struct {
	mu          sync.Mutex
	at          time.Time                // the signal; zero before it
	node        int                      // the signalled node
	rooms       map[string]bool          // rooms the node owned
	replaced    map[string]time.Duration // room → re-placement time
	clients     map[string]bool          // clients on the node at the signal
	reconnected map[string]time.Duration // client → reconnect time
}

func newFaultTimes() *faultTimes {
	return &faultTimes{replaced: map[string]time.Duration{}, reconnected: map[string]time.Duration{}}
}

// signalled starts the clocks: node was signalled at at; it owned rooms,
// and clients were connected to it.
func (f *faultTimes) signalled(at time.Time, node int, rooms, clients []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.at, f.node = at, node
	f.rooms, f.clients = set(rooms), set(clients)
}

// acked records the ack, at ackedAt, of a send in room first sent at sentAt.
func (f *faultTimes) acked(room string, sentAt, ackedAt time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.at.IsZero() || !f.rooms[room] || sentAt.Before(f.at) {
		return
	}
	if _, done := f.replaced[room]; !done {
		f.replaced[room] = ackedAt.Sub(f.at)
	}
}

// rejoined records that client had rejoined its rooms at at on a
// connection to node.
func (f *faultTimes) rejoined(client string, node int, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.at.IsZero() || !f.clients[client] || node == f.node || at.Before(f.at) {
		return
	}
	if _, done := f.reconnected[client]; !done {
		f.reconnected[client] = at.Sub(f.at)
	}
}

// summary returns the re-placement and reconnect times in milliseconds, and
// how many rooms and clients were never measured (still unplaced, or
// stranded on the node).
func (f *faultTimes) summary() (replacement, reconnect drills.Summary, unplaced, stranded int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	replacement, reconnect = drills.Summarize(millis(f.replaced)), drills.Summarize(millis(f.reconnected))
	return replacement, reconnect, len(f.rooms) - len(f.replaced), len(f.clients) - len(f.reconnected)
}

func set(names []string) map[string]bool {
	out := make(map[string]bool, len(names))
	for _, n := range names {
		out[n] = true
	}
	return out
}

func millis(m map[string]time.Duration) []float64 {
	out := make([]float64, 0, len(m))
	for _, d := range m {
		out = append(out, float64(d.Microseconds())/1000)
	}
	return out
}
