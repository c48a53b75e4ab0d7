package actors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/troupe-chat/troupe/persistence"
)

// Room tests across two engines that share one memory store and talk
// through memBus, an in-process stand-in for the NATS adapter with the
// same contract (at most once, ordered per publisher; no responders when
// a node is not served). The real adapter and real processes are tested in
// transport/cluster and cmd/troupe/app.

// memBus connects the nodes of one test.
type memBus struct {
	mu    sync.Mutex
	feeds map[string]map[string]func(RoomEvent) // room → node → deliver
	nodes map[string]func(RemoteSend, func(RemoteSendResult))
	users map[string]func(UserDelivery) int
	// dropOffset, while not 0, makes the feed lose the batch that holds
	// that offset (the bus is at most once); dropped counts the losses.
	// Naming the offset keeps a late publish of an earlier batch from
	// being lost instead.
	dropOffset atomic.Uint64
	dropped    atomic.Int64
}

func newMemBus() *memBus {
	return &memBus{
		feeds: make(map[string]map[string]func(RoomEvent)),
		nodes: make(map[string]func(RemoteSend, func(RemoteSendResult))),
		users: make(map[string]func(UserDelivery) int),
	}
}

// memNode is one node's Cluster on a memBus.
type memNode struct {
	bus  *memBus
	name string
}

func (n *memNode) Node() string  { return n.name }
func (n *memNode) Healthy() bool { return true }

func (n *memNode) SubscribeRoom(room string, deliver func(RoomEvent)) (func(), error) {
	n.bus.mu.Lock()
	defer n.bus.mu.Unlock()
	if n.bus.feeds[room] == nil {
		n.bus.feeds[room] = make(map[string]func(RoomEvent))
	}
	n.bus.feeds[room][n.name] = deliver
	return func() {
		n.bus.mu.Lock()
		defer n.bus.mu.Unlock()
		delete(n.bus.feeds[room], n.name)
	}, nil
}

func (n *memNode) PublishRoom(room string, ev RoomEvent) error {
	if drop := n.bus.dropOffset.Load(); drop != 0 && ev.Kind == EventBatch &&
		slices.ContainsFunc(ev.Msgs, func(m persistence.Message) bool { return m.Offset == drop }) {
		n.bus.dropped.Add(1)
		return nil
	}
	n.bus.mu.Lock()
	defer n.bus.mu.Unlock()
	for node, deliver := range n.bus.feeds[room] {
		if node != n.name {
			deliver(ev) // only enqueues to a mailbox
		}
	}
	return nil
}

func (n *memNode) ServeNode(serve func(RemoteSend, func(RemoteSendResult))) (func(), error) {
	n.bus.mu.Lock()
	defer n.bus.mu.Unlock()
	n.bus.nodes[n.name] = serve
	return func() {
		n.bus.mu.Lock()
		defer n.bus.mu.Unlock()
		delete(n.bus.nodes, n.name)
	}, nil
}

func (n *memNode) SendToNode(node string, send RemoteSend, timeout time.Duration, done func(RemoteSendResult, error)) {
	n.bus.mu.Lock()
	serve := n.bus.nodes[node]
	n.bus.mu.Unlock()
	if serve == nil {
		go done(RemoteSendResult{}, fmt.Errorf("mem bus: %s: %w", node, ErrNodeUnreachable))
		return
	}
	var once sync.Once
	timer := time.AfterFunc(timeout, func() {
		once.Do(func() { done(RemoteSendResult{}, context.DeadlineExceeded) })
	})
	serve(send, func(res RemoteSendResult) {
		timer.Stop()
		once.Do(func() { done(res, nil) }) // in the owner's answering order, as one NATS inbox
	})
}

func (n *memNode) ServeUsers(deliver func(UserDelivery) int) (func(), error) {
	n.bus.mu.Lock()
	defer n.bus.mu.Unlock()
	n.bus.users[n.name] = deliver
	return func() {
		n.bus.mu.Lock()
		defer n.bus.mu.Unlock()
		delete(n.bus.users, n.name)
	}, nil
}

func (n *memNode) DeliverToUsers(_ context.Context, d UserDelivery) (int, error) {
	n.bus.mu.Lock()
	var others []func(UserDelivery) int
	for node, deliver := range n.bus.users {
		if node != n.name {
			others = append(others, deliver)
		}
	}
	n.bus.mu.Unlock()
	total := 0
	for _, deliver := range others {
		total += deliver(d)
	}
	return total, nil
}

// twoNodes starts nodes a and b on one store and bus, both with live leases.
func twoNodes(t *testing.T) (a, b *kit, bus *memBus, mem *persistence.Memory) {
	t.Helper()
	mem, bus = persistence.NewMemory(), newMemBus()
	for _, n := range []string{"a", "b"} {
		if _, err := mem.RenewLease(t.Context(), n, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	a = newKitNode(t, mem, &memNode{bus: bus, name: "a"}, quickPresence)
	b = newKitNode(t, mem, &memNode{bus: bus, name: "b"}, quickPresence)
	return a, b, bus, mem
}

func TestClusterRelayForwardsAndDeliversInOrder(t *testing.T) {
	a, b, _, _ := twoNodes(t)
	ann := a.member("ann")
	ann.join("r") // a claims the room
	bob := b.member("bob")
	j := bob.join("r")
	if j.Epoch == "" {
		t.Fatalf("relay join = %+v", j)
	}
	if s, _ := b.eng.env.registry.stats("r"); !s.Relay || s.Owner != "a" {
		t.Fatalf("b's room stats = %+v, want a relay of owner a", s)
	}
	// Bob, on the relay, sends three; ann gets them in order and bob gets acks.
	for i := 1; i <= 3; i++ {
		bob.send("r", fmt.Sprintf("b%d", i), fmt.Sprintf("c%d", i))
	}
	for i := 1; i <= 3; i++ {
		ack := skipTo[Ack](bob)
		if ack.Offset != uint64(i) {
			t.Fatalf("bob's ack %d = %+v", i, ack)
		}
	}
	var got []string
	for len(got) < 3 {
		switch f := ann.next().(type) {
		case MessagePush:
			got = append(got, fmt.Sprintf("%d:%s", f.Msg.Offset, f.Msg.Text))
		case BatchPush:
			for _, m := range f.Msgs {
				got = append(got, fmt.Sprintf("%d:%s", m.Offset, m.Text))
			}
		}
	}
	if want := []string{"1:b1", "2:b2", "3:b3"}; !slices.Equal(got, want) {
		t.Fatalf("ann got %v, want %v", got, want)
	}
	// A retry of a forwarded send is a duplicate at the owner.
	bob.send("r", "b1", "c1")
	if dup := skipTo[Ack](bob); !dup.Dup || dup.Offset != 1 {
		t.Fatalf("retry through the relay = %+v, want dup of 1", dup)
	}
	// Ann's message reaches bob on the relay, and bob never got his own.
	ann.send("r", "a4", "")
	push := skipTo[MessagePush](bob)
	if push.Msg.Offset != 4 || push.Msg.Text != "a4" {
		t.Fatalf("bob got %+v, want 4:a4", push.Msg)
	}
	if got := a.stored("r"); !slices.Equal(got, []string{"1:b1", "2:b2", "3:b3", "4:a4"}) {
		t.Fatalf("stored %v", got)
	}
}

func TestClusterPresenceCountsAUserOnceAcrossNodes(t *testing.T) {
	a, b, _, _ := twoNodes(t)
	ann := a.signedIn("ann")
	ann.join("r")
	bob := b.signedIn("bob")
	bob.join("r")
	// Ann hears of bob (b's snapshot), and bob's presence lists ann.
	diff := skipTo[PresenceDiff](ann)
	if len(diff.Joins) != 1 || diff.Joins[0].ID != "bob" {
		t.Fatalf("ann's diff = %+v, want bob joining", diff)
	}
	// Ann opens a second connection on b: still one ann, with two connections.
	ann2 := b.signedIn("ann")
	ann2.join("r")
	eventually(t, "b sees ann twice", func() bool {
		p := requestOf[PresenceReply](bob, func(id int64) Command { return PresenceQuery{ID: id, Room: "r"} })
		return len(p.Members) == 2 && slices.ContainsFunc(p.Members, func(m PresenceMember) bool { return m.ID == "ann" && m.Conns == 2 })
	})
	// And the room's stats count her once too (here and on a).
	for _, k := range []*kit{a, b} {
		if s, _ := k.eng.env.registry.stats("r"); s.Members != 2 {
			t.Fatalf("room stats count %d members, want 2 (ann once, bob)", s.Members)
		}
	}
	// Typing on a relays to b.
	ann.post(Typing{Room: "r", On: true})
	if ty := skipTo[TypingPush](bob); ty.User.ID != "ann" || !ty.On {
		t.Fatalf("bob's typing = %+v", ty)
	}
}

func TestClusterRelayBackfillsWhatTheFeedLost(t *testing.T) {
	a, b, bus, _ := twoNodes(t)
	ann := a.member("ann")
	ann.join("r")
	bob := b.member("bob")
	bob.join("r")
	bus.dropOffset.Store(1)
	ann.send("r", "lost", "")
	skipTo[Ack](ann)
	eventually(t, "the batch is lost", func() bool { return bus.dropped.Load() == 1 })
	bus.dropOffset.Store(0)
	// The owner's next tail beat tells b it is behind; b reads the store.
	a.clock.Advance(tailBeat)
	push := skipTo[MessagePush](bob)
	if push.Msg.Offset != 1 || push.Msg.Text != "lost" {
		t.Fatalf("bob got %+v after the beat, want 1:lost", push.Msg)
	}
	// And the feed carries on after it, exactly once.
	ann.send("r", "next", "")
	if push := skipTo[MessagePush](bob); push.Msg.Offset != 2 {
		t.Fatalf("bob got %+v, want offset 2", push.Msg)
	}
	if n := testCounter(b.metrics.RelayBackfills); n < 1 {
		t.Fatalf("relay backfills = %v", n)
	}
}

func TestClusterRelayClaimsTheRoomWhenTheOwnerIsGone(t *testing.T) {
	a, b, _, mem := twoNodes(t)
	ann := a.member("ann")
	ann.join("r")
	ann.send("r", "one", "c1")
	skipTo[Ack](ann)
	bob := b.member("bob")
	bob.join("r")
	// Node a stops serving (as a killed node's bus subscription vanishes)
	// and its lease goes.
	for _, stop := range a.eng.unserve {
		stop()
	}
	if err := mem.ReleaseLease(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	bob.send("r", "two", "c2")
	// b pauses between claims on its clock.
	var ack Ack
	eventually(t, "b claims the room", func() bool {
		b.clock.Advance(claimWaitMax)
		for _, f := range bob.pending() {
			if a, ok := f.(Ack); ok {
				ack = a
				return true
			}
		}
		return false
	})
	if ack.Offset != 2 {
		t.Fatalf("bob's ack after the owner went = %+v, want offset 2", ack)
	}
	if s, _ := b.eng.env.registry.stats("r"); s.Relay || s.Owner != "b" {
		t.Fatalf("b's room = %+v, want b owning it", s)
	}
	if got := b.stored("r"); !slices.Equal(got, []string{"1:one", "2:two"}) {
		t.Fatalf("stored %v", got)
	}
}

func TestClusterDirectReachesAUserOnAnotherNode(t *testing.T) {
	a, b, _, _ := twoNodes(t)
	ann := a.signedIn("ann")
	bob := b.signedIn("bob")
	id := ann.request(func(id int64) Command { return Direct{ID: id, To: "bob", Text: "psst"} })
	if ack := skipTo[Ack](ann); ack.ID != id {
		t.Fatalf("ann's ack = %+v", ack)
	}
	if d := skipTo[DirectPush](bob); d.Text != "psst" || d.From.ID != "ann" {
		t.Fatalf("bob got %+v", d)
	}
	ann.request(func(id int64) Command { return Direct{ID: id, To: "nobody", Text: "?"} })
	if e := skipTo[ErrorFrame](ann); e.Code != CodeNoSuchUser {
		t.Fatalf("direct to nobody = %+v", e)
	}
	if n, err := a.eng.Notify(t.Context(), "bob", Notify{Event: "x"}); err != nil || n != 1 {
		t.Fatalf("notify across nodes = %d, %v", n, err)
	}
	if err := a.eng.Disconnect("bob", "bye"); err != nil {
		t.Fatal(err)
	}
	if code := bob.awaitClose(); code != CloseKicked {
		t.Fatalf("bob closed with %d", code)
	}
}

func testCounter(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

// pausingLookups is a store whose LookupRoom, while armed, signals paused
// once it has read the room and waits for release before returning: a test
// acts between a relay's read of the room's state and its reads of messages.
type pausingLookups struct {
	persistence.Store
	armed           atomic.Bool
	paused, release chan struct{}
}

func (s *pausingLookups) LookupRoom(ctx context.Context, room string) (persistence.RoomInfo, error) {
	info, err := s.Store.LookupRoom(ctx, room)
	if s.armed.CompareAndSwap(true, false) {
		close(s.paused)
		<-s.release
	}
	return info, err
}

// TestClusterPresenceKeepsAGoneNodesUsersForTheGrace: the users of a node
// that is gone stay in presence for the session grace, without their
// connections, as a dropped connection's user does on one node: the one who
// reconnects to another node within it causes no leave and join; the one
// who does not leaves once the grace is over.
func TestClusterPresenceKeepsAGoneNodesUsersForTheGrace(t *testing.T) {
	a, b, _, _ := twoNodes(t)
	ann := a.signedIn("ann")
	ann.join("r")
	for _, u := range []string{"bob", "cat"} {
		b.signedIn(u).join("r")
	}
	presence := func() map[string]int {
		p := requestOf[PresenceReply](ann, func(id int64) Command { return PresenceQuery{ID: id, Room: "r"} })
		conns := map[string]int{}
		for _, m := range p.Members {
			conns[m.ID] = m.Conns
		}
		return conns
	}
	eventually(t, "ann sees bob and cat", func() bool { return len(presence()) == 3 })
	eve := a.signedIn("eve")
	if j := eve.join("r"); len(j.Members) != 4 {
		t.Fatalf("eve joined with members %+v, want four", j.Members)
	}
	// a learns that b is gone: bob and cat stay, with no connections.
	a.eng.SetLiveNodes([]string{"a"})
	eventually(t, "b's users are orphaned", func() bool {
		p := presence()
		return len(p) == 4 && p["bob"] == 0 && p["cat"] == 0
	})
	// Bob reconnects to a within the grace: he was never gone.
	a.signedIn("bob").join("r")
	if p := presence(); p["bob"] != 1 || p["cat"] != 0 {
		t.Fatalf("presence after bob's rejoin = %v, want bob with 1 connection and cat with 0", p)
	}
	// Past the grace, cat leaves; bob does not. Eve, who joined before b
	// went, is pushed nothing about bob at all.
	a.clock.Advance(DefaultConfig().SessionGrace)
	if d := skipTo[PresenceDiff](eve); len(d.Leaves) != 1 || d.Leaves[0].ID != "cat" || len(d.Joins) != 0 {
		t.Fatalf("eve's first diff since b went = %+v, want cat leaving alone", d)
	}
	if p := presence(); len(p) != 3 || p["bob"] != 1 {
		t.Fatalf("presence past the grace = %v, want ann, bob and eve", p)
	}
}

// TestClusterRelayReloadPushesNothingTwice: a relay that is behind reloads
// the room, and the owner stores a message after the relay read the room's
// state and before it read the messages it missed. The relay pushes that
// message to its members once (it comes on the feed), not also as a missed
// one.
func TestClusterRelayReloadPushesNothingTwice(t *testing.T) {
	mem, bus := persistence.NewMemory(), newMemBus()
	for _, n := range []string{"a", "b"} {
		if _, err := mem.RenewLease(t.Context(), n, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	lookups := &pausingLookups{paused: make(chan struct{}), release: make(chan struct{})}
	a := newKitNode(t, mem, &memNode{bus: bus, name: "a"}, quickPresence)
	b := newKitWrapped(t, mem, &memNode{bus: bus, name: "b"}, quickPresence, func(s persistence.Store) persistence.Store {
		lookups.Store = s
		return lookups
	})
	ann := a.member("ann")
	ann.join("r")
	ann.send("r", "one", "")
	skipTo[Ack](ann)
	bob := b.member("bob")
	bob.join("r") // a relay of a, at offset 1
	// The feed loses offset 2: b is behind when it reloads.
	bus.dropOffset.Store(2)
	ann.send("r", "two", "")
	skipTo[Ack](ann)
	eventually(t, "the batch is lost", func() bool { return bus.dropped.Load() == 1 })
	bus.dropOffset.Store(0)
	// b believes a gone and reloads; a still holds its lease, so b relays again.
	lookups.armed.Store(true)
	b.eng.SetLiveNodes([]string{"b"})
	<-lookups.paused
	ann.send("r", "three", "") // stored at 3 while b's reload reads
	skipTo[Ack](ann)
	close(lookups.release)
	ann.send("r", "four", "")
	skipTo[Ack](ann)
	var offsets []uint64
	for !slices.Contains(offsets, 4) {
		switch f := bob.next().(type) {
		case MessagePush:
			offsets = append(offsets, f.Msg.Offset)
		case BatchPush:
			for _, m := range f.Msgs {
				offsets = append(offsets, m.Offset)
			}
		}
	}
	if !slices.Equal(offsets, []uint64{2, 3, 4}) {
		t.Fatalf("bob was pushed offsets %v, want [2 3 4] once each", offsets)
	}
}

// TestClusterSessionOfALiveConnectionResumesOnAnotherNode: a cluster node
// saves a session before it welcomes the client, with a lease rather than
// no expiry, so when the node dies with the connection still attached (no
// drop, no save at detach) the client resumes it on another node as the
// same user. A single node saves nothing at connect.
func TestClusterSessionOfALiveConnectionResumesOnAnotherNode(t *testing.T) {
	a, b, _, mem := twoNodes(t)
	_, w := a.welcomed("ann", "")
	rec, err := mem.LoadSession(t.Context(), w.Session)
	if err != nil {
		t.Fatalf("the session was not saved before the welcome: %v", err)
	}
	grace := a.eng.env.cfg.SessionGrace
	if rec.UserID != w.User.ID || !rec.Anonymous || rec.Expires.Before(a.clock.Now().Add(grace)) {
		t.Fatalf("saved %+v at %v, want user %s leased past the grace %v", rec, a.clock.Now(), w.User.ID, grace)
	}
	_, again := b.welcomed("ann", w.Session)
	if !again.Resumed || again.User.ID != w.User.ID {
		t.Fatalf("resume on b = %+v, want the session of %s", again, w.User.ID)
	}

	single := newKit(t, nil)
	_, w = single.welcomed("bob", "")
	if _, err := single.mem.LoadSession(t.Context(), w.Session); !errors.Is(err, persistence.ErrNoSuchSession) {
		t.Fatalf("a single node saved a session at connect: %v", err)
	}
}

// TestClusterAttachedSessionLeaseIsRenewed: a session attached longer than
// its lease has its record's lease renewed at a sweep, so it stays
// resumable elsewhere for at least the grace period.
func TestClusterAttachedSessionLeaseIsRenewed(t *testing.T) {
	mem := persistence.NewMemory()
	if _, err := mem.RenewLease(t.Context(), "a", time.Hour); err != nil {
		t.Fatal(err)
	}
	a := newKitNode(t, mem, &memNode{bus: newMemBus(), name: "a"}, func(c *Config) {
		c.HeartbeatInterval, c.IdleTimeout = time.Hour, 2*time.Hour // the idle probe stays attached
	})
	_, w := a.welcomed("ann", "")
	first, err := mem.LoadSession(t.Context(), w.Session)
	if err != nil {
		t.Fatal(err)
	}
	// Past the point where less than the grace period and two sweeps of
	// the lease remain, a sweep renews it. The test sends the sweep itself:
	// the actor's own timer re-arms from whenever it ran, not on the tick.
	a.clock.Advance(attachedLeaseSlack - 2*sessionsSweepInterval + time.Second)
	a.eng.env.root.Send(a.eng.env.sessions, &sessionsSweep{})
	want := a.clock.Now().Add(a.eng.env.cfg.SessionGrace + attachedLeaseSlack)
	eventually(t, "the lease is renewed", func() bool {
		rec, err := mem.LoadSession(t.Context(), w.Session)
		return err == nil && rec.Expires.After(first.Expires) && !rec.Expires.Before(want.Truncate(time.Millisecond))
	})
}
