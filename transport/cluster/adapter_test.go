package cluster

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/metrics"
	"github.com/troupe-chat/troupe/transport/bus"
)

const hostileRoom = "team.a b*>"

func feedSubject(t testing.TB, room string) string {
	t.Helper()
	s, err := bus.RoomSubject(bus.RoomFeed, room)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func nodeSubject(t testing.TB, node string) string {
	t.Helper()
	s, err := bus.NodeSubject(bus.NodeCommand, node)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func subscribeChan(t testing.TB, a *Adapter, room string) <-chan actors.RoomEvent {
	t.Helper()
	ch := make(chan actors.RoomEvent, 1024)
	unsub, err := a.SubscribeRoom(room, func(ev actors.RoomEvent) { ch <- ev })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unsub)
	return ch
}

func counter(n *node, dir, kind string) float64 {
	return testutil.ToFloat64(n.m.ClusterMessages.WithLabelValues(dir, kind))
}

// publishUntil publishes ev on room from a until want receives an event
// with ev's Seq (the interest of want's node may not have crossed the route
// yet), and returns it.
func publishUntil(t *testing.T, a *Adapter, room string, ev actors.RoomEvent, ch <-chan actors.RoomEvent) actors.RoomEvent {
	t.Helper()
	deadline := time.After(waitTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := a.PublishRoom(room, ev); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-ch:
			if got.Seq == ev.Seq {
				return got
			}
		case <-deadline:
			t.Fatalf("no event on %s", room)
		case <-tick.C:
		}
	}
}

// TestFeedBetweenNodes: events cross between two nodes both ways, intact,
// stamped with the publisher; a node's own events never come back.
func TestFeedBetweenNodes(t *testing.T) {
	srv := startServers(t, 2)
	a, b := startNode(t, srv[0], "A"), startNode(t, srv[1], "B")
	chA, chB := subscribeChan(t, a.a, hostileRoom), subscribeChan(t, b.a, hostileRoom)

	probe := actors.RoomEvent{Kind: actors.EventTail, Seq: 1}
	publishUntil(t, a.a, hostileRoom, probe, chB)
	publishUntil(t, b.a, hostileRoom, actors.RoomEvent{Kind: actors.EventTail, Seq: 2}, chA)

	batch := sampleBatch(50)
	batch.Node = "forged" // PublishRoom stamps its own node
	batch.Seq = 3
	if err := a.a.PublishRoom(hostileRoom, batch); err != nil {
		t.Fatal(err)
	}
	var got actors.RoomEvent
	for got.Seq != 3 {
		got = recv(t, chB)
	}
	batch.Node = "A"
	if !reflect.DeepEqual(got, batch) {
		t.Fatalf("batch:\n got %+v\nwant %+v", got, batch)
	}

	// A's own events are dropped: a frame of another node published after
	// them on A's connection (so delivered after them) arrives first.
	for range 10 {
		if err := a.a.PublishRoom(hostileRoom, actors.RoomEvent{Kind: actors.EventTyping, Seq: 4}); err != nil {
			t.Fatal(err)
		}
	}
	marker := actors.RoomEvent{Kind: actors.EventTail, Node: "Z", Seq: 5}
	if err := a.conn.Publish(feedSubject(t, hostileRoom), appendFeed(nil, &marker)); err != nil {
		t.Fatal(err)
	}
	for {
		ev := recv(t, chA)
		if ev.Node == "A" {
			t.Fatalf("own event delivered: %+v", ev)
		}
		if ev.Seq == 5 {
			break
		}
	}
	if c := counter(a, "out", "feed"); c < 12 {
		t.Fatalf("out feed %v", c)
	}
	if c := counter(b, "in", "feed"); c < 2 {
		t.Fatalf("B in feed %v", c)
	}
}

// TestFeedDropsGarbage: undecodable frames are counted and skipped; the
// feed goes on.
func TestFeedDropsGarbage(t *testing.T) {
	srv := startServers(t, 1)
	a := startNode(t, srv[0], "A")
	ch := subscribeChan(t, a.a, "r")
	subject := feedSubject(t, "r")
	ev := actors.RoomEvent{Kind: actors.EventTail, Node: "Z", Offset: 9}
	good := appendFeed(nil, &ev)
	for _, bad := range [][]byte{nil, {0xff}, {codecVersion + 1, byte(frameFeed), 1, 1, 'Z'}, good[:len(good)-1], {codecVersion, byte(frameFeed), 1, 200}} {
		if err := a.conn.Publish(subject, bad); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.conn.Publish(subject, good); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, ch); !reflect.DeepEqual(got, ev) {
		t.Fatalf("got %+v", got)
	}
	if c := counter(a, "invalid", "feed"); c != 5 {
		t.Fatalf("invalid feed frames %v, want 5", c)
	}
}

// TestSendToNode forwards sends to a node that answers later, from another
// goroutine: each done gets its answer, once, and the sends arrive in order.
func TestSendToNode(t *testing.T) {
	srv := startServers(t, 2)
	a, b := startNode(t, srv[0], "A"), startNode(t, srv[1], "B")

	type pendingSend struct {
		s       actors.RemoteSend
		respond func(actors.RemoteSendResult)
	}
	got := make(chan pendingSend, 256)
	stop, err := b.a.ServeNode(func(s actors.RemoteSend, respond func(actors.RemoteSendResult)) {
		got <- pendingSend{s, respond} // answered after serve returned
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if _, err := b.a.ServeNode(func(actors.RemoteSend, func(actors.RemoteSendResult)) {}); err == nil {
		t.Fatal("ServeNode twice")
	}
	flush(t, b.conn)
	waitFor(t, "B's interest on A's server", func() bool { return srv[0].HasInterest(nodeSubject(t, "B")) })

	type answer struct {
		i   int
		res actors.RemoteSendResult
		err error
	}
	answers := make(chan answer, 256)
	const n = 100
	want := sampleSends()[0]
	for i := range n {
		s := want
		s.CID = string(rune('a' + i%26))
		a.a.SendToNode("B", s, waitTimeout, func(res actors.RemoteSendResult, err error) {
			answers <- answer{i, res, err}
		})
	}
	go func() {
		for i := range n {
			var p pendingSend
			select {
			case p = <-got:
			case <-time.After(waitTimeout):
				t.Errorf("send %d not served", i)
				return
			}
			if p.s.CID != string(rune('a'+i%26)) {
				t.Errorf("send %d arrived out of order: %+v", i, p.s)
			}
			p.s.CID = want.CID
			if !reflect.DeepEqual(p.s, want) {
				t.Errorf("send %d: got %+v, want %+v", i, p.s, want)
			}
			p.respond(actors.RemoteSendResult{MsgID: "m", Offset: uint64(i + 1), TS: 7})
			p.respond(actors.RemoteSendResult{Code: "second"}) // ignored
		}
	}()
	seen := map[int]bool{}
	for range n {
		ans := recv(t, answers)
		if ans.err != nil || ans.res.Offset != uint64(ans.i+1) || ans.res.MsgID != "m" || ans.res.Code != "" || seen[ans.i] {
			t.Fatalf("answer %+v", ans)
		}
		seen[ans.i] = true
	}
	select {
	case ans := <-answers:
		t.Fatalf("extra answer %+v", ans)
	default:
	}
	if c := counter(a, "out", "command"); c != n {
		t.Fatalf("out command %v", c)
	}
	if c := counter(a, "in", "reply"); c != n {
		t.Fatalf("in reply %v", c)
	}
	if c := counter(b, "out", "reply"); c != n {
		t.Fatalf("B out reply %v", c)
	}
}

// sendResult forwards one send and waits for its done.
func sendResult(t *testing.T, a *Adapter, node string, timeout time.Duration) (actors.RemoteSendResult, error) {
	t.Helper()
	type result struct {
		res actors.RemoteSendResult
		err error
	}
	ch := make(chan result, 2)
	a.SendToNode(node, actors.RemoteSend{Room: "r"}, timeout, func(res actors.RemoteSendResult, err error) {
		ch <- result{res, err}
	})
	r := recv(t, ch)
	select {
	case again := <-ch:
		t.Fatalf("done called twice: %+v", again)
	default:
	}
	return r.res, r.err
}

func TestSendToNodeUnreachable(t *testing.T) {
	srv := startServers(t, 2)
	a, b := startNode(t, srv[0], "A"), startNode(t, srv[1], "B")
	start := time.Now()
	if _, err := sendResult(t, a.a, "C", waitTimeout); !errors.Is(err, actors.ErrNodeUnreachable) {
		t.Fatalf("send to nobody: %v", err)
	}
	if d := time.Since(start); d > waitTimeout/2 {
		t.Fatalf("no-responders took %v", d)
	}
	if _, err := sendResult(t, a.a, "", waitTimeout); !errors.Is(err, actors.ErrNodeUnreachable) {
		t.Fatalf("send to an invalid node id: %v", err)
	}

	// A node that stops serving becomes unreachable once its interest is
	// gone from A's server.
	stop, err := b.a.ServeNode(func(_ actors.RemoteSend, respond func(actors.RemoteSendResult)) {
		respond(actors.RemoteSendResult{MsgID: "ok"})
	})
	if err != nil {
		t.Fatal(err)
	}
	flush(t, b.conn)
	waitFor(t, "B's interest on A's server", func() bool { return srv[0].HasInterest(nodeSubject(t, "B")) })
	if res, err := sendResult(t, a.a, "B", waitTimeout); err != nil || res.MsgID != "ok" {
		t.Fatalf("send to B: %+v, %v", res, err)
	}
	stop()
	stop() // idempotent
	flush(t, b.conn)
	waitFor(t, "B's interest gone from A's server", func() bool { return !srv[0].HasInterest(nodeSubject(t, "B")) })
	if _, err := sendResult(t, a.a, "B", waitTimeout); !errors.Is(err, actors.ErrNodeUnreachable) {
		t.Fatalf("send to B after stop: %v", err)
	}
	if _, err := b.a.ServeNode(func(actors.RemoteSend, func(actors.RemoteSendResult)) {}); err != nil {
		t.Fatalf("ServeNode again after stop: %v", err)
	}
}

func TestSendToNodeTimeout(t *testing.T) {
	srv := startServers(t, 1)
	a, b := startNode(t, srv[0], "A"), startNode(t, srv[0], "B")
	var calls atomic.Int32
	stop, err := b.a.ServeNode(func(actors.RemoteSend, func(actors.RemoteSendResult)) { calls.Add(1) }) // never answers
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	flush(t, b.conn)
	_, err = sendResult(t, a.a, "B", 50*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, actors.ErrNodeUnreachable) {
		t.Fatalf("err %v, want a deadline", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("served %d times", calls.Load())
	}
}

// TestServeNodeAnswersGarbage: a send the owner cannot read is answered with
// an error code rather than left to time out.
func TestServeNodeAnswersGarbage(t *testing.T) {
	srv := startServers(t, 1)
	b := startNode(t, srv[0], "B")
	cli := connect(t, "cli", srv[0].ClientURL())
	stop, err := b.a.ServeNode(func(actors.RemoteSend, func(actors.RemoteSendResult)) { t.Error("garbage served") })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	flush(t, b.conn)
	s := actors.RemoteSend{Room: "r"}
	newer := appendSend(nil, &s)
	newer[0] = codecVersion + 1
	garbage := string([]byte{codecVersion, byte(frameSend)}) + "garbage"
	for frame, code := range map[string]string{garbage: actors.CodeInternal, string(newer): actors.CodeUnavailable} {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		reply, err := cli.Request(ctx, nodeSubject(t, "B"), []byte(frame))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		res, err := decodeResult(reply)
		if err != nil || res.Code != code {
			t.Fatalf("answer %+v, %v; want code %s", res, err, code)
		}
	}
	if c := counter(b, "invalid", "command"); c != 2 {
		t.Fatalf("invalid commands %v", c)
	}
}

// TestDeliverToUsers gathers the answers of the other live nodes.
func TestDeliverToUsers(t *testing.T) {
	srv := startServers(t, 3)
	a, b, c := startNode(t, srv[0], "A"), startNode(t, srv[1], "B"), startNode(t, srv[2], "C")
	want := sampleUsers()[0].D
	var mu sync.Mutex
	delivered := map[string]int{}
	serve := func(n *node, count int) {
		stop, err := n.a.ServeUsers(func(d actors.UserDelivery) int {
			if !reflect.DeepEqual(d, want) {
				t.Errorf("%s got %+v", n.a.Node(), d)
			}
			mu.Lock()
			delivered[n.a.Node()]++
			mu.Unlock()
			return count
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		flush(t, n.conn)
	}
	serve(a, 100) // A's own deliveries do not come back to it
	serve(b, 2)
	serve(c, 3)

	// Alone: 0 at once, nothing published.
	a.live.set("A")
	if n, err := a.a.DeliverToUsers(t.Context(), want); n != 0 || err != nil {
		t.Fatalf("alone: %d, %v", n, err)
	}
	a.live.set()
	if n, err := a.a.DeliverToUsers(t.Context(), want); n != 0 || err != nil {
		t.Fatalf("no live node: %d, %v", n, err)
	}
	if counter(a, "out", "user") != 0 {
		t.Fatal("published with no other live node")
	}

	// B and C: 5, once both interests crossed the routes to A's server.
	a.live.set("A", "B", "C")
	deadline := time.Now().Add(waitTimeout)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		n, err := a.a.DeliverToUsers(ctx, want)
		cancel()
		if err == nil {
			if n != 5 {
				t.Fatalf("total %d, want 5", n)
			}
			break
		}
		if !errors.Is(err, context.DeadlineExceeded) || time.Now().After(deadline) {
			t.Fatalf("deliver: %d, %v", n, err)
		}
	}
	mu.Lock()
	if delivered["A"] != 0 || delivered["B"] == 0 || delivered["C"] == 0 {
		t.Fatalf("delivered %v", delivered)
	}
	mu.Unlock()

	// A live node that does not answer: the answers so far and ctx's error.
	a.live.set("A", "B", "C", "D")
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	n, err := a.a.DeliverToUsers(ctx, want)
	cancel()
	if n != 5 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("with a silent node: %d, %v", n, err)
	}
	if c := counter(b, "in", "user"); c == 0 || counter(b, "out", "reply") != c {
		t.Fatalf("B in user %v, out reply %v", c, counter(b, "out", "reply"))
	}
}

// TestDeliverToUsersCountsNodesOnce feeds answers straight to the inbox
// handler: a node answering twice counts once, a node not listed live
// counts, A's own answer does not, and the call ends with the last listed
// node's answer.
func TestDeliverToUsersCountsNodesOnce(t *testing.T) {
	srv := startServers(t, 1)
	a := startNode(t, srv[0], "A")
	// A serves user deliveries (ignoring its own), so its request has a
	// subscriber and no no-responders notice ends the call.
	stop, err := a.a.ServeUsers(func(actors.UserDelivery) int { t.Error("own delivery served"); return 0 })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	a.live.set("A", "B", "X")
	type result struct {
		n   int
		err error
	}
	res := make(chan result, 1)
	go func() {
		n, err := a.a.DeliverToUsers(t.Context(), actors.UserDelivery{Kind: actors.DeliverNotify, User: "u"})
		res <- result{n, err}
	}()
	var token string
	waitFor(t, "the call's token", func() bool {
		a.a.mu.Lock()
		defer a.a.mu.Unlock()
		for tok := range a.a.pending {
			token = tok
		}
		return token != ""
	})
	answer := func(node string, n int) {
		a.a.onAnswer(token, appendUserAnswer(nil, &userAnswer{Node: node, N: n}), false)
	}
	answer("B", 4)
	answer("B", 4)
	answer("A", 100)
	answer("C", 1)
	a.a.onAnswer(token, []byte("garbage"), false)
	select {
	case r := <-res:
		t.Fatalf("ended before X answered: %+v", r)
	default:
	}
	answer("X", 4)
	r := recv(t, res)
	if r.n != 9 || r.err != nil {
		t.Fatalf("total %d, %v; want 9", r.n, r.err)
	}
	if c := counter(a, "invalid", "reply"); c != 1 {
		t.Fatalf("invalid replies %v", c)
	}
}

func TestDeliverToUsersNoResponders(t *testing.T) {
	srv := startServers(t, 1)
	a := startNode(t, srv[0], "A")
	a.live.set("A", "B")
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	start := time.Now()
	n, err := a.a.DeliverToUsers(ctx, actors.UserDelivery{Kind: actors.DeliverNotify, User: "u"})
	if n != 0 || !errors.Is(err, actors.ErrNodeUnreachable) {
		t.Fatalf("%d, %v", n, err)
	}
	if time.Since(start) > waitTimeout/2 {
		t.Fatal("waited for the context")
	}
}

// TestCloseEndsEverything: Close answers pending sends, unsubscribes, and
// fails later calls.
func TestCloseEndsEverything(t *testing.T) {
	srv := startServers(t, 1)
	a, b := startNode(t, srv[0], "A"), startNode(t, srv[0], "B")
	if !a.a.Healthy() || testutil.ToFloat64(a.m.ClusterConnected) != 1 {
		t.Fatal("not healthy")
	}
	stop, err := b.a.ServeNode(func(actors.RemoteSend, func(actors.RemoteSendResult)) {})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	flush(t, b.conn)
	served, err := a.a.ServeNode(func(actors.RemoteSend, func(actors.RemoteSendResult)) {})
	if err != nil {
		t.Fatal(err)
	}
	unsub, err := a.a.SubscribeRoom("r", func(actors.RoomEvent) {})
	if err != nil {
		t.Fatal(err)
	}
	flush(t, a.conn)
	if !srv[0].HasInterest(feedSubject(t, "r")) || !srv[0].HasInterest(nodeSubject(t, "A")) {
		t.Fatal("no interest")
	}

	done := make(chan error, 1)
	a.a.SendToNode("B", actors.RemoteSend{Room: "r"}, waitTimeout, func(_ actors.RemoteSendResult, err error) { done <- err })
	flush(t, a.conn)
	a.a.Close()
	a.a.Close()
	if err := recv(t, done); !errors.Is(err, ErrClosed) {
		t.Fatalf("pending send: %v", err)
	}
	flush(t, a.conn)
	if srv[0].HasInterest(feedSubject(t, "r")) || srv[0].HasInterest(nodeSubject(t, "A")) {
		t.Fatal("interest left after Close")
	}
	unsub()
	served()
	if a.a.Healthy() || testutil.ToFloat64(a.m.ClusterConnected) != 0 {
		t.Fatal("healthy after Close")
	}
	if err := a.a.PublishRoom("r", actors.RoomEvent{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish: %v", err)
	}
	if _, err := a.a.SubscribeRoom("r", func(actors.RoomEvent) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("subscribe: %v", err)
	}
	if _, err := sendResult(t, a.a, "B", waitTimeout); !errors.Is(err, ErrClosed) {
		t.Fatalf("send: %v", err)
	}
	a.live.set("A", "B")
	if _, err := a.a.DeliverToUsers(t.Context(), actors.UserDelivery{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("deliver: %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	srv := startServers(t, 1)
	n := startNode(t, srv[0], "A")
	for name, opts := range map[string]Options{
		"no conn":    {Node: "A", Live: n.live.get, Metrics: n.m},
		"no live":    {Conn: n.conn, Node: "A", Metrics: n.m},
		"no metrics": {Conn: n.conn, Node: "A", Live: n.live.get},
		"empty node": {Conn: n.conn, Live: n.live.get, Metrics: n.m},
	} {
		if a, err := New(opts); err == nil {
			a.Close()
			t.Errorf("%s: created", name)
		}
	}
}

// TestHealthyNeedsTheLease: a node whose lease keeper says it lost its
// lease is not healthy though its bus connection is up.
func TestHealthyNeedsTheLease(t *testing.T) {
	srv := startServers(t, 1)
	n := &node{srv: srv[0], conn: connect(t, "A", srv[0].ClientURL()), live: &liveSet{}, m: metrics.New(prometheus.NewRegistry())}
	var held atomic.Bool
	a, err := New(Options{Conn: n.conn, Node: "A", Live: n.live.get, Held: held.Load, Metrics: n.m, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Healthy() {
		t.Fatal("healthy without the lease")
	}
	if testutil.ToFloat64(n.m.ClusterConnected) != 1 {
		t.Fatal("the bus connection is up: ClusterConnected should say so")
	}
	held.Store(true)
	if !a.Healthy() {
		t.Fatal("not healthy with the lease and the bus")
	}
}
