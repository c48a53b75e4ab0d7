package actors

import (
	"time"

	"github.com/jonboulle/clockwork"
)

// Ports: the narrow interfaces through which actors reach the outside world. The
// transport implements them; actors never import a WebSocket, HTTP or SQL package.

// Outbox is the bounded outbound queue of one connection. Enqueue never blocks:
// when the queue is full the outbox closes its connection with 4001 and reports
// false. Frames are shared between many outboxes and must not be modified.
type Outbox interface {
	Enqueue(frame []byte) bool
	// Offer queues an ephemeral frame (typing) only while the queue is less
	// than half full; otherwise it drops the frame and reports false. It never
	// closes the connection: ephemera must not turn a busy client into a slow
	// consumer.
	Offer(frame []byte) bool
	// OfferLatest queues an ephemeral frame that supersedes any earlier
	// frame of the same key still waiting in the queue: that one is
	// replaced in place, so a consumer that falls behind gets the latest
	// value of each key instead of every update. A key not queued yet is
	// queued as Offer would (dropped past half the bound). It never closes
	// the connection.
	OfferLatest(key string, frame []byte) bool
}

// Peer is the transport side of one connection as its actors see it.
type Peer interface {
	Outbox
	// Ping sends a WebSocket ping.
	Ping()
	// Close flushes what is queued (except on 4001), sends a close frame with code
	// and reason, and stops handling the client's frames. Idempotent.
	Close(code int, reason string)
	// LastActive is when the last frame of any kind arrived from the client.
	LastActive() time.Time
}

// Encoder turns frames into wire bytes.
type Encoder interface {
	Encode(f Frame) []byte
}

// Claims are the verified contents of a client token.
type Claims struct {
	Subject string
	Name    string    // "" when the token has none
	Expires time.Time // zero when the token has no exp
	Rooms   []string  // private rooms the token grants
}

// TokenVerifier checks client tokens (signature, exp with leeway, aud, iss).
type TokenVerifier interface {
	Verify(token string) (Claims, error)
}

// Clock is the engine's time source: connection deadlines (the hello
// deadline, heartbeat ticks and idle timeouts, token expiry, session grace),
// room timers (store retry backoff, idle retirement, presence grace) and
// message timestamps. Tests replace it with clockwork's fake clock to drive
// those deadlines without waiting for them. Only the restart backoff of the
// supervisors and latency measurements run on real time.
type Clock = clockwork.Clock
