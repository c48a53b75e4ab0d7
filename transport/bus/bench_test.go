package bus

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// Measured on the project's 2-core machine (go test -bench . -benchtime 2s
// -count 3), both servers and both clients in one process:
//
//	throughput  230k–460k msgs/s (22–46 MB/s of payload), 5 allocs/op
//	one-way     p50 44–59 µs, p99 134–209 µs
//	request     p50 95–121 µs, p99 298–361 µs (round trip)

// benchPair starts two routed nodes and returns a connection to each, with
// the subscriber's interest already known to the publisher's node.
func benchPair(b *testing.B, subject string, handler func([]byte)) (pub *Conn) {
	b.Helper()
	nodes := startCluster(b, 2)
	pub = connect(b, "pub", nodes[0].ClientURL())
	sub := connect(b, "sub", nodes[1].ClientURL())
	unsub, err := sub.Subscribe(subject, handler)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = unsub() })
	flush(b, sub)
	waitFor(b, "interest across the route", func() bool { return nodes[0].HasInterest(subject) })
	return pub
}

// BenchmarkCrossNodeThroughput publishes 100-byte messages on one node and
// receives them on another, with at most window messages in flight (core
// NATS drops what a slow consumer cannot take, so an unbounded burst would
// measure drops).
func BenchmarkCrossNodeThroughput(b *testing.B) {
	const window = 65536
	var received atomic.Int64
	progress := make(chan struct{}, 1)
	pub := benchPair(b, "troupe.bench.tput", func([]byte) {
		received.Add(1)
		select {
		case progress <- struct{}{}:
		default:
		}
	})
	msg := make([]byte, 100)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	n := int64(b.N)
	for sent := int64(0); sent < n; sent++ {
		for sent-received.Load() >= window {
			waitProgress(b, progress)
		}
		if err := pub.Publish("troupe.bench.tput", msg); err != nil {
			b.Fatal(err)
		}
	}
	for received.Load() < n {
		waitProgress(b, progress)
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
}

func waitProgress(b *testing.B, progress <-chan struct{}) {
	select {
	case <-progress:
	case <-time.After(waitTimeout):
		b.Fatal("no message received for 10 s: dropped?")
	}
}

// BenchmarkCrossNodeLatency publishes one 100-byte message at a time on one
// node and waits for it on another: one-way latency, reported as p50 and
// p99 alongside ns/op (the mean).
func BenchmarkCrossNodeLatency(b *testing.B) {
	got := make(chan struct{}, 1)
	pub := benchPair(b, "troupe.bench.lat", func([]byte) { got <- struct{}{} })
	msg := make([]byte, 100)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if err := pub.Publish("troupe.bench.lat", msg); err != nil {
			b.Fatal(err)
		}
		select {
		case <-got:
		case <-time.After(waitTimeout):
			b.Fatal("message lost")
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// BenchmarkCrossNodeRequest measures a request/reply round trip of 100-byte
// messages between two nodes.
func BenchmarkCrossNodeRequest(b *testing.B) {
	nodes := startCluster(b, 2)
	req := connect(b, "req", nodes[0].ClientURL())
	srv := connect(b, "srv", nodes[1].ClientURL())
	unserve, err := srv.Serve("troupe.bench.req", func(r []byte) []byte { return r })
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = unserve() })
	flush(b, srv)
	waitFor(b, "interest across the route", func() bool { return nodes[0].HasInterest("troupe.bench.req") })
	msg := make([]byte, 100)
	lat := make([]time.Duration, 0, b.N)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		rctx, cancel := context.WithTimeout(ctx, waitTimeout)
		_, err := req.Request(rctx, "troupe.bench.req", msg)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}
