package bus

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"
)

// waitTimeout bounds every wait in these tests.
const waitTimeout = 10 * time.Second

// testLogger logs warnings and errors to the test's output.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// startNode starts an embedded server on free loopback ports, routing to
// routes, and shuts it down when the test ends.
func startNode(t testing.TB, name string, routes ...string) *Embedded {
	t.Helper()
	e, err := StartEmbedded(EmbeddedOptions{Name: name, Routes: routes, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

// startCluster starts n nodes, the first a seed the others route to, and
// waits until gossip has made them a full mesh.
func startCluster(t testing.TB, n int) []*Embedded {
	t.Helper()
	nodes := []*Embedded{startNode(t, "n0")}
	for i := 1; i < n; i++ {
		nodes = append(nodes, startNode(t, "n"+string(rune('0'+i)), nodes[0].RouteURL()))
	}
	for _, e := range nodes {
		waitFor(t, e.Name()+" routed to every peer", func() bool { return e.Peers() == n-1 })
	}
	return nodes
}

// connect connects to urls and closes the connection when the test ends.
func connect(t testing.TB, name string, urls ...string) *Conn {
	t.Helper()
	return connectOpts(t, ConnOptions{URLs: urls, Name: name})
}

func connectOpts(t testing.TB, opts ConnOptions) *Conn {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	if opts.ReconnectWait == 0 {
		opts.ReconnectWait = 20 * time.Millisecond
		opts.ReconnectJitter = 10 * time.Millisecond
	}
	c, err := Connect(opts)
	if err != nil {
		t.Fatalf("connect %s: %v", opts.Name, err)
	}
	t.Cleanup(c.Close)
	return c
}

// waitFor polls cond until it holds, failing the test after waitTimeout. It
// is for state that has no event to wait on (routes, interest propagating
// across them); messages are waited for on channels.
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

// subscribeChan subscribes to subject, sending each message to the
// returned channel, and flushes so the server has the subscription.
func subscribeChan(t testing.TB, c *Conn, subject string) <-chan []byte {
	t.Helper()
	ch := make(chan []byte, 1024)
	unsub, err := c.Subscribe(subject, func(msg []byte) { ch <- msg })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unsub() })
	flush(t, c)
	return ch
}

func flush(t testing.TB, c *Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// recv returns the next message on ch, failing the test after waitTimeout.
func recv(t testing.TB, ch <-chan []byte) []byte {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(waitTimeout):
		t.Fatal("timed out waiting for a message")
		return nil
	}
}

// publishUntilReceived publishes msg to subject every few milliseconds until
// one arrives on ch, for when interest may not have reached pub's server yet
// (or a stale interest may still be there). It drains the extra copies.
// Messages in stale (late copies of an earlier probe) are skipped.
func publishUntilReceived(t testing.TB, pub *Conn, subject string, msg []byte, ch <-chan []byte, stale ...string) {
	t.Helper()
	deadline := time.After(waitTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := pub.Publish(subject, msg); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-ch:
			if slices.Contains(stale, string(got)) {
				continue
			}
			if string(got) != string(msg) {
				t.Fatalf("got %q, want %q", got, msg)
			}
			return
		case <-deadline:
			t.Fatalf("no message on %s after %s", subject, waitTimeout)
		case <-tick.C:
		}
	}
}

// recvSkipping returns the next message on ch that is not probe (copies of
// a probe from publishUntilReceived may still be arriving).
func recvSkipping(t testing.TB, ch <-chan []byte, probe string) []byte {
	t.Helper()
	for {
		if m := recv(t, ch); string(m) != probe {
			return m
		}
	}
}
