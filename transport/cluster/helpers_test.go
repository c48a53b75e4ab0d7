package cluster

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/troupe-chat/troupe/metrics"
	"github.com/troupe-chat/troupe/transport/bus"
)

// waitTimeout bounds every wait in these tests.
const waitTimeout = 10 * time.Second

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// startServers starts n routed embedded servers on loopback and waits for
// the full mesh.
func startServers(t testing.TB, n int) []*bus.Embedded {
	t.Helper()
	var servers []*bus.Embedded
	for i := range n {
		var routes []string
		if i > 0 {
			routes = []string{servers[0].RouteURL()}
		}
		e, err := bus.StartEmbedded(bus.EmbeddedOptions{Name: "s" + strconv.Itoa(i), Routes: routes, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.Shutdown)
		servers = append(servers, e)
	}
	for _, e := range servers {
		waitFor(t, e.Name()+" routed to every peer", func() bool { return e.Peers() == n-1 })
	}
	return servers
}

func connect(t testing.TB, name, url string) *bus.Conn {
	t.Helper()
	c, err := bus.Connect(bus.ConnOptions{URLs: []string{url}, Name: name, Logger: testLogger(t),
		ReconnectWait: 20 * time.Millisecond, ReconnectJitter: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// liveSet is a settable Options.Live.
type liveSet struct {
	mu    sync.Mutex
	nodes []string
}

func (l *liveSet) set(nodes ...string) {
	l.mu.Lock()
	l.nodes = nodes
	l.mu.Unlock()
}

func (l *liveSet) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.nodes)
}

// node is one test node: a server, a connection to it and an adapter.
type node struct {
	srv  *bus.Embedded
	conn *bus.Conn
	a    *Adapter
	live *liveSet
	m    *metrics.Metrics
}

// startNode makes an adapter named name on a connection to srv, closed
// before the connection when the test ends.
func startNode(t testing.TB, srv *bus.Embedded, name string) *node {
	t.Helper()
	n := &node{srv: srv, conn: connect(t, name, srv.ClientURL()), live: &liveSet{},
		m: metrics.New(prometheus.NewRegistry())}
	a, err := New(Options{Conn: n.conn, Node: name, Live: n.live.get, Metrics: n.m, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	n.a = a
	return n
}

// waitFor polls cond until it holds (for state with no event to wait on:
// routes, interest), failing the test after waitTimeout.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func flush(t testing.TB, c *bus.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// recv returns the next value on ch, failing the test after waitTimeout.
func recv[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatal("timed out waiting")
		var zero T
		return zero
	}
}
