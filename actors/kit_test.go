package actors

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/troupe-chat/troupe/metrics"
	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/faults"
)

// The actor test kit: a real engine (its room, user, sessions and heartbeat
// actors on protoactor) around a memory store behind a fault switch, a fake
// clock, and probe connections whose outboxes record the frames they get as
// values. A test drives actors with the commands the transport would post and
// asserts what they sent (probe frames), stored (the memory store) and
// scheduled (timers on the fake clock), each wait ending on an event, never
// on a sleep. It runs in about a second: no sockets, no SQLite.

// kitWait bounds every wait for an event.
const kitWait = 5 * time.Second

// kit is one engine under test.
type kit struct {
	t       testing.TB
	eng     *Engine
	mem     *persistence.Memory
	store   *faults.Store
	clock   *clockwork.FakeClock
	frames  *frameBook
	metrics *metrics.Metrics
	nextID  int64
}

// kitTokens is the kit's TokenVerifier: a token is the subject it names
// ("" is refused). Real token checks are transport/auth's; actors only see
// their verified claims.
type kitTokens struct{}

// Verify implements TokenVerifier.
func (kitTokens) Verify(token string) (Claims, error) {
	if token == "" {
		return Claims{}, errors.New("kit: empty token")
	}
	return Claims{Subject: token, Name: token}, nil
}

// newKit starts an engine with DefaultConfig changed by tweak (nil: as is)
// and one heartbeat shard, and shuts it down when t ends.
func newKit(t testing.TB, tweak func(*Config)) *kit {
	t.Helper()
	return newKitOn(t, persistence.NewMemory(), tweak)
}

// newKitOn is newKit on a given memory store: a second engine on the same
// store plays another node, or this one after a restart.
func newKitOn(t testing.TB, mem *persistence.Memory, tweak func(*Config)) *kit {
	t.Helper()
	return newKitNode(t, mem, nil, tweak)
}

// newKitNode is newKitOn for a node of a cluster (cluster nil: one node).
func newKitNode(t testing.TB, mem *persistence.Memory, cluster Cluster, tweak func(*Config)) *kit {
	t.Helper()
	return newKitWrapped(t, mem, cluster, tweak, nil)
}

// newKitWrapped is newKitNode with the engine's store wrapped by wrap (nil:
// as is), for a test that must act between two calls of one store read.
func newKitWrapped(t testing.TB, mem *persistence.Memory, cluster Cluster, tweak func(*Config), wrap func(persistence.Store) persistence.Store) *kit {
	t.Helper()
	cfg := DefaultConfig()
	cfg.HeartbeatShards = 1
	cfg.RateLimit = 0
	if tweak != nil {
		tweak(&cfg)
	}
	k := &kit{t: t, mem: mem, clock: clockwork.NewFakeClockAt(time.UnixMilli(1_700_000_000_000)), frames: &frameBook{}}
	k.store = faults.Wrap(k.mem)
	k.metrics = metrics.New(prometheus.NewRegistry())
	var store persistence.Store = k.store
	if wrap != nil {
		store = wrap(k.store)
	}
	eng, err := New(cfg, Deps{Store: store, Encoder: k.frames, Metrics: k.metrics, Clock: k.clock, Verifier: kitTokens{}, Cluster: cluster})
	if err != nil {
		t.Fatalf("kit: engine: %v", err)
	}
	k.eng = eng
	t.Cleanup(func() {
		k.store.Heal() // a stalled store would hold the shutdown's drain
		ctx, cancel := context.WithTimeout(context.Background(), kitWait)
		defer cancel()
		if err := eng.Shutdown(ctx); err != nil {
			t.Errorf("kit: shutdown: %v", err)
		}
	})
	return k
}

// frameBook is the kit's Encoder: the bytes of a frame are its index in the
// book, so outboxes get back the very Frame value a room encoded once for
// all its members.
type frameBook struct {
	mu     sync.Mutex
	frames []Frame
}

// Encode implements Encoder.
func (b *frameBook) Encode(f Frame) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.frames = append(b.frames, f)
	return []byte(strconv.Itoa(len(b.frames) - 1))
}

func (b *frameBook) lookup(p []byte) Frame {
	i, err := strconv.Atoi(string(p))
	if err != nil {
		panic(fmt.Sprintf("kit: bytes %q were not encoded by the kit", p))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.frames[i]
}

// probe is a fake connection: its Peer records every frame queued for it.
type probe struct {
	k       *kit
	name    string
	handle  *ConnHandle
	mu      sync.Mutex
	got     []Frame
	read    int       // got[:read] were returned by next
	closed  int       // close code, 0 while open
	active  time.Time // when the client last sent anything
	arrived chan struct{}
}

// connect opens a probe connection (not yet welcomed).
func (k *kit) connect(name string) *probe {
	k.t.Helper()
	p := &probe{k: k, name: name, arrived: make(chan struct{}, 1), active: k.clock.Now()}
	h, err := k.eng.Connect(p, ConnInfo{RemoteIP: "127.0.0.1", Opened: k.clock.Now()})
	if err != nil {
		k.t.Fatalf("kit: connect %s: %v", name, err)
	}
	p.handle = h
	return p
}

// member opens a welcomed connection of an anonymous user called name.
func (k *kit) member(name string) *probe {
	k.t.Helper()
	p, _ := k.welcomed(name, "")
	return p
}

// signedIn opens a welcomed connection of the user whose id is sub (see
// kitTokens).
func (k *kit) signedIn(sub string) *probe {
	k.t.Helper()
	p := k.connect(sub)
	if w := requestOf[Welcome](p, func(id int64) Command { return Hello{ID: id, Token: sub} }); w.User.ID != sub {
		k.t.Fatalf("kit: welcome of %s = %+v", sub, w)
	}
	return p
}

// welcomed opens a connection that says hello (resuming session, if not
// empty) and returns it with its welcome.
func (k *kit) welcomed(name, session string) (*probe, Welcome) {
	k.t.Helper()
	p := k.connect(name)
	w := requestOf[Welcome](p, func(id int64) Command { return Hello{ID: id, Name: name, Session: session} })
	if w.User.Name != name || w.Session == "" {
		k.t.Fatalf("kit: welcome of %s = %+v", name, w)
	}
	return p, w
}

// Enqueue implements Outbox.
func (p *probe) Enqueue(b []byte) bool {
	f := p.k.frames.lookup(b)
	p.mu.Lock()
	p.got = append(p.got, f)
	p.mu.Unlock()
	select {
	case p.arrived <- struct{}{}:
	default:
	}
	return true
}

// Offer implements Outbox.
func (p *probe) Offer(b []byte) bool { return p.Enqueue(b) }

// OfferLatest implements Outbox: a probe never falls behind, so nothing is
// coalesced.
func (p *probe) OfferLatest(_ string, b []byte) bool { return p.Enqueue(b) }

// Ping implements Peer.
func (p *probe) Ping() {}

// Close implements Peer: it records the code and tells the connection actor
// its socket ended, as the transport does.
func (p *probe) Close(code int, _ string) {
	p.mu.Lock()
	first := p.closed == 0
	if first {
		p.closed = code
	}
	p.mu.Unlock()
	if first {
		select {
		case p.arrived <- struct{}{}:
		default:
		}
		p.handle.Closed(code)
	}
}

// LastActive implements Peer.
func (p *probe) LastActive() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.active
}

// post hands the connection actor a command, as the transport's reader
// does, and counts as client activity.
func (p *probe) post(cmd Command) {
	p.mu.Lock()
	p.active = p.k.clock.Now()
	p.mu.Unlock()
	p.handle.Post(cmd)
}

// request posts the command build makes with a fresh request id and returns
// that id.
func (p *probe) request(build func(id int64) Command) int64 {
	p.k.nextID++
	id := p.k.nextID
	p.post(build(id))
	return id
}

// next returns the next frame not yet returned, waiting for it.
func (p *probe) next() Frame {
	p.k.t.Helper()
	timeout := time.NewTimer(kitWait)
	defer timeout.Stop()
	for {
		p.mu.Lock()
		if p.read < len(p.got) {
			f := p.got[p.read]
			p.read++
			p.mu.Unlock()
			return f
		}
		closed := p.closed
		p.mu.Unlock()
		if closed != 0 {
			p.k.t.Fatalf("kit: %s closed with %d while a frame was awaited", p.name, closed)
		}
		select {
		case <-p.arrived:
		case <-timeout.C:
			p.k.t.Fatalf("kit: %s got no frame within %s", p.name, kitWait)
		}
	}
}

// pending returns the frames received and not yet returned by next, without
// waiting, and marks them read.
func (p *probe) pending() []Frame {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.got[p.read:]
	p.read = len(p.got)
	return out
}

// closeCode returns the code the connection was closed with, 0 while open.
func (p *probe) closeCode() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// awaitClose waits until the connection is closed and returns the code.
func (p *probe) awaitClose() int {
	p.k.t.Helper()
	timeout := time.NewTimer(kitWait)
	defer timeout.Stop()
	for {
		p.mu.Lock()
		code := p.closed
		p.mu.Unlock()
		if code != 0 {
			return code
		}
		select {
		case <-p.arrived:
		case <-timeout.C:
			p.k.t.Fatalf("kit: %s still open after %s", p.name, kitWait)
		}
	}
}

// skipTo returns the next frame that is a T, dropping others before it.
func skipTo[T Frame](p *probe) T {
	p.k.t.Helper()
	for {
		if t, ok := p.next().(T); ok {
			return t
		}
	}
}

// requestOf posts a request and returns its answer, which must be a T; other
// frames arriving meanwhile are skipped.
func requestOf[T Frame](p *probe, build func(id int64) Command) T {
	p.k.t.Helper()
	id := p.request(build)
	for {
		f := p.next()
		if frameID(f) != id {
			continue
		}
		t, ok := f.(T)
		if !ok {
			var want T
			p.k.t.Fatalf("kit: %s: request %d answered %T %+v, want %T", p.name, id, f, f, want)
		}
		return t
	}
}

// frameID is the request id a reply frame answers, 0 for pushes.
func frameID(f Frame) int64 {
	switch f := f.(type) {
	case Welcome:
		return f.ID
	case Joined:
		return f.ID
	case Left:
		return f.ID
	case Ack:
		return f.ID
	case ErrorFrame:
		return f.ID
	case PresenceReply:
		return f.ID
	case HistoryReply:
		return f.ID
	case Pong:
		return f.ID
	}
	return 0
}

// join makes p a member of room and returns the joined reply.
func (p *probe) join(room string) Joined {
	p.k.t.Helper()
	return requestOf[Joined](p, func(id int64) Command { return Join{ID: id, Room: room, History: -1} })
}

// send publishes text to room under client id cid and returns the request id.
func (p *probe) send(room, text, cid string) int64 {
	return p.request(func(id int64) Command { return Send{ID: id, Room: room, Kind: "text", Text: text, CID: cid} })
}

// sync returns once p's connection and room have handled everything p
// posted before: a room handles its commands in order, so the answer to a
// presence query comes after theirs. Frames before the answer stay unread.
func (p *probe) sync(room string) {
	p.k.t.Helper()
	id := p.request(func(id int64) Command { return PresenceQuery{ID: id, Room: room} })
	p.mu.Lock()
	start := p.read
	p.mu.Unlock()
	timeout := time.NewTimer(kitWait)
	defer timeout.Stop()
	for {
		p.mu.Lock()
		for i := start; i < len(p.got); i++ {
			if frameID(p.got[i]) == id {
				p.got = append(p.got[:i], p.got[i+1:]...)
				p.mu.Unlock()
				return
			}
		}
		p.mu.Unlock()
		select {
		case <-p.arrived:
		case <-timeout.C:
			p.k.t.Fatalf("kit: %s: no presence answer within %s", p.name, kitWait)
		}
	}
}

// stored returns the offsets and texts of the room's stored stream.
func (k *kit) stored(room string) []string {
	k.t.Helper()
	res, err := k.mem.Read(k.t.Context(), room, persistence.ReadQuery{Limit: 1000})
	if err != nil {
		k.t.Fatalf("kit: read %s: %v", room, err)
	}
	out := []string{}
	for _, m := range res.Messages {
		out = append(out, fmt.Sprintf("%d:%s", m.Offset, m.Text))
	}
	return out
}

// eventually waits for cond, which no event announces (a room retiring sends
// no frame), checking it every millisecond for up to kitWait.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(kitWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("kit: %s: not within %s", what, kitWait)
		}
		time.Sleep(time.Millisecond)
	}
}
