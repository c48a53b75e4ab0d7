package bus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSingleNodeRoundTrip(t *testing.T) {
	n := startNode(t, "solo")
	if !strings.HasPrefix(n.ClientURL(), "nats://127.0.0.1:") || !strings.HasPrefix(n.RouteURL(), "nats-route://127.0.0.1:") {
		t.Fatalf("urls %s %s", n.ClientURL(), n.RouteURL())
	}
	pub := connect(t, "pub", n.ClientURL())
	sub := connect(t, "sub", n.ClientURL())
	subj, err := RoomSubject(RoomBroadcast, "lobby")
	if err != nil {
		t.Fatal(err)
	}
	ch := subscribeChan(t, sub, subj)
	for i := range 100 {
		if err := pub.Publish(subj, []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 {
		if got := string(recv(t, ch)); got != strconv.Itoa(i) {
			t.Fatalf("message %d: got %q (out of order?)", i, got)
		}
	}

	// Request/reply on one node, and no responders.
	unserve, err := sub.Serve("troupe.echo", func(req []byte) []byte { return append([]byte("re:"), req...) })
	if err != nil {
		t.Fatal(err)
	}
	flush(t, sub)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	got, err := pub.Request(ctx, "troupe.echo", []byte("hi"))
	if err != nil || string(got) != "re:hi" {
		t.Fatalf("request: %q, %v", got, err)
	}
	if err := unserve(); err != nil {
		t.Fatal(err)
	}
	flush(t, sub)
	if _, err := pub.Request(ctx, "troupe.echo", []byte("hi")); !errors.Is(err, ErrNoResponders) {
		t.Fatalf("request with no responder: %v, want ErrNoResponders", err)
	}
}

func TestNoCluster(t *testing.T) {
	e, err := StartEmbedded(EmbeddedOptions{NoCluster: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	if e.RouteURL() != "" {
		t.Fatalf("route url %q with NoCluster", e.RouteURL())
	}
	if _, err := StartEmbedded(EmbeddedOptions{NoCluster: true, Routes: []string{"nats-route://127.0.0.1:1"}}); err == nil {
		t.Fatal("NoCluster with routes started")
	}
}

func TestStartFailsFastOnPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	start := time.Now()
	e, err := StartEmbedded(EmbeddedOptions{Port: port, Logger: testLogger(t)})
	if err == nil {
		e.Shutdown()
		t.Fatal("started on a port in use")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("took %s to fail", time.Since(start))
	}
	t.Logf("error: %v", err)
}

func TestParseRouteURL(t *testing.T) {
	for _, ok := range []string{"nats-route://127.0.0.1:6222", "nats-route://node-b.internal:6222", "nats-route://[::1]:6222", "nats-route://u:p@h:1"} {
		if _, err := ParseRouteURL(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "nats://h:6222", "nats-route://h", "nats-route://:6222", "nats-route://h:0", "nats-route://h:x", "nats-route://h:1/path", "h:6222"} {
		if _, err := ParseRouteURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := StartEmbedded(EmbeddedOptions{Routes: []string{"nats://h:1"}}); err == nil {
		t.Error("started with a bad route")
	}
}

func TestConnectErrors(t *testing.T) {
	if _, err := Connect(ConnOptions{}); err == nil {
		t.Fatal("connected to no URL")
	}
	// A port nothing listens on: fails (no retry on failed connect).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "nats://user:secret@" + l.Addr().String()
	l.Close()
	_, err = Connect(ConnOptions{URLs: []string{u}, ConnectTimeout: time.Second})
	if err == nil {
		t.Fatal("connected to a closed port")
	}
	if strings.Contains(err.Error(), "secret") {
		t.Fatalf("error leaks the password: %v", err)
	}
}

// TestRetryOnFailedConnect: a node whose NATS is not up yet connects once
// it is.
func TestRetryOnFailedConnect(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	reconnected := make(chan string, 1)
	c := connectOpts(t, ConnOptions{
		URLs:                 []string{"nats://127.0.0.1:" + strconv.Itoa(port)},
		Name:                 "early",
		RetryOnFailedConnect: true,
		OnConnect:            func(u string) { reconnected <- u },
	})
	if c.IsConnected() {
		t.Fatal("connected before the server is up")
	}
	n, err := StartEmbedded(EmbeddedOptions{Port: port, NoCluster: true, Logger: testLogger(t)})
	if err != nil {
		t.Skipf("port %d taken meanwhile: %v", port, err)
	}
	t.Cleanup(n.Shutdown)
	select {
	case <-reconnected:
	case <-time.After(waitTimeout):
		t.Fatal("never connected")
	}
	ch := subscribeChan(t, c, "troupe.x")
	if err := c.Publish("troupe.x", []byte("late")); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, ch); string(got) != "late" {
		t.Fatalf("got %q", got)
	}
}

func TestClusterOfThree(t *testing.T) {
	nodes := startCluster(t, 3)
	a, c := nodes[0], nodes[2]
	pub := connect(t, "on-a", a.ClientURL())
	sub := connect(t, "on-c", c.ClientURL())
	subj, err := RoomSubject(RoomBroadcast, "team.alpha")
	if err != nil {
		t.Fatal(err)
	}
	ch := subscribeChan(t, sub, subj)
	waitFor(t, "A to learn of C's subscriber", func() bool { return a.HasInterest(subj) })
	const n = 1000
	for i := range n {
		if err := pub.Publish(subj, []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if got := string(recv(t, ch)); got != strconv.Itoa(i) {
			t.Fatalf("message %d: got %q", i, got)
		}
	}
	// B has no subscriber and so gets nothing: no assertion possible without
	// a sleep, but B's own interest table must not claim one.
	if nodes[1].HasInterest("troupe.nobody") {
		t.Fatal("interest in a subject nobody subscribed to")
	}
}

func TestRequestAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 3)
	a, c := nodes[0], nodes[2]
	req := connect(t, "on-a", a.ClientURL())
	srv := connect(t, "on-c", c.ClientURL())
	subj, err := RoomSubject(RoomCommand, "room 1")
	if err != nil {
		t.Fatal(err)
	}
	unserve, err := srv.Serve(subj, func(r []byte) []byte { return []byte(c.Name() + ":" + string(r)) })
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unserve() }()
	flush(t, srv)
	waitFor(t, "A to learn of C's responder", func() bool { return a.HasInterest(subj) })
	for i := range 50 {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		got, err := req.Request(ctx, subj, []byte(strconv.Itoa(i)))
		cancel()
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if want := c.Name() + ":" + strconv.Itoa(i); string(got) != want {
			t.Fatalf("reply %q, want %q", got, want)
		}
	}
	// A request's context ends it.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := req.Request(ctx, subj, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: %v", err)
	}
}

// TestNodeShutdownOthersGoOn kills the seed every other node routed to: the
// routes the others made to each other through gossip carry on.
func TestNodeShutdownOthersGoOn(t *testing.T) {
	nodes := startCluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	onB := connect(t, "on-b", b.ClientURL())
	onC := connect(t, "on-c", c.ClientURL())

	a.Shutdown()
	waitFor(t, "B to lose A", func() bool { return b.Peers() == 1 })
	waitFor(t, "C to lose A", func() bool { return c.Peers() == 1 })

	// New subscriptions after the loss propagate, both ways.
	toC := subscribeChan(t, onC, "troupe.to-c")
	toB := subscribeChan(t, onB, "troupe.to-b")
	waitFor(t, "B to learn of C's subscriber", func() bool { return b.HasInterest("troupe.to-c") })
	waitFor(t, "C to learn of B's subscriber", func() bool { return c.HasInterest("troupe.to-b") })
	for i := range 100 {
		if err := onB.Publish("troupe.to-c", []byte("b"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		if err := onC.Publish("troupe.to-b", []byte("c"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 {
		if got := string(recv(t, toC)); got != "b"+strconv.Itoa(i) {
			t.Fatalf("C got %q", got)
		}
		if got := string(recv(t, toB)); got != "c"+strconv.Itoa(i) {
			t.Fatalf("B got %q", got)
		}
	}
}

// TestClientFailsOver: a client given two nodes' URLs reconnects to another
// node when its own shuts down, and its subscription works again there.
func TestClientFailsOver(t *testing.T) {
	nodes := startCluster(t, 3)
	byURL := map[string]*Embedded{}
	for _, n := range nodes {
		byURL[n.ClientURL()] = n
	}
	reconnected := make(chan string, 4)
	disconnected := make(chan struct{}, 4)
	x := connectOpts(t, ConnOptions{
		URLs:         []string{nodes[0].ClientURL(), nodes[1].ClientURL()},
		Name:         "x",
		OnConnect:    func(u string) { reconnected <- u },
		OnDisconnect: func(error) { disconnected <- struct{}{} },
	})
	pub := connect(t, "pub-on-c", nodes[2].ClientURL())
	subj, err := UserSubject(UserDirect, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	ch := subscribeChan(t, x, subj)
	publishUntilReceived(t, pub, subj, []byte("probe"), ch)

	select {
	case <-reconnected: // the first connection
	case <-time.After(waitTimeout):
		t.Fatal("no connect event")
	}
	home := byURL[x.ConnectedURL()]
	if home == nil || home == nodes[2] {
		t.Fatalf("x connected to %q, not node 0 or 1", x.ConnectedURL())
	}
	home.Shutdown()
	select {
	case <-disconnected:
	case <-time.After(waitTimeout):
		t.Fatal("no disconnect event")
	}
	var now string
	select {
	case now = <-reconnected:
	case <-time.After(waitTimeout):
		t.Fatal("no reconnect event")
	}
	if n := byURL[now]; n == nil || n == home {
		t.Fatalf("reconnected to %s, not to a live node", now)
	}
	t.Logf("x moved from %s to %s", home.ClientURL(), now)

	// Interest may still be stale on C (the dead node's) until C sees the
	// route close: publish until the restored subscription gets one.
	publishUntilReceived(t, pub, subj, []byte("probe2"), ch, "probe")
	if err := pub.Publish(subj, []byte("after")); err != nil {
		t.Fatal(err)
	}
	for {
		m := recvSkipping(t, ch, "probe2")
		if string(m) == "after" {
			break
		}
		if string(m) != "probe" {
			t.Fatalf("unexpected %q", m)
		}
	}
}

func TestHostileSubjectsRoundTrip(t *testing.T) {
	n := startNode(t, "hostile")
	c := connect(t, "c", n.ClientURL())
	names := hostileNames()
	chans := make([]<-chan []byte, len(names))
	seen := map[string]string{}
	for i, name := range names {
		subj, err := RoomSubject(RoomCommand, name)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if other, dup := seen[subj]; dup {
			t.Fatalf("%q and %q share %s", name, other, subj)
		}
		seen[subj] = name
		chans[i] = subscribeChan(t, c, subj)
	}
	for i, name := range names {
		subj, _ := RoomSubject(RoomCommand, name)
		if err := c.Publish(subj, []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, c)
	for i, name := range names {
		if got := string(recv(t, chans[i])); got != strconv.Itoa(i) {
			t.Fatalf("%q got message %s", name, got)
		}
	}
	// Each subscription got exactly its own message: a wildcard-looking name
	// matched nothing else. Publish a marker to each and check it comes next.
	for i, name := range names {
		subj, _ := RoomSubject(RoomCommand, name)
		if err := c.Publish(subj, []byte("end")); err != nil {
			t.Fatal(err)
		}
		if got := string(recv(t, chans[i])); got != "end" {
			t.Fatalf("%q got an extra message %q", name, got)
		}
	}
}

func ExampleRoomSubject() {
	s, _ := RoomSubject(RoomBroadcast, "team.alpha")
	u, _ := UserSubject(UserDirect, "Zoë *")
	fmt.Println(s)
	fmt.Println(u)
	// Output:
	// troupe.room.bcast.team_2Ealpha
	// troupe.user.direct.Zo_C3_AB_20_2A
}
