package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/persistence"
)

// BenchText is a message text of about 100 bytes.
var BenchText = strings.Repeat("lorem ipsum ", 8) + "dolor"

// BenchBatch returns n typical messages (a text of BenchText, a client id)
// starting at offset from.
func BenchBatch(from uint64, n int) []persistence.Message {
	out := make([]persistence.Message, n)
	for i := range out {
		off := from + uint64(i)
		out[i] = persistence.Message{
			ID: fmt.Sprintf("m_%016x", off), Offset: off, TS: 1_700_000_000_000 + int64(off),
			FromID: "u_0123456789", FromName: "Ann", Kind: "text", Text: BenchText,
			CID: fmt.Sprintf("c%d", off),
		}
	}
	return out
}

// reportPerMessage reports the time per message and messages per second of
// b's loop, which stored msgs messages.
func reportPerMessage(b *testing.B, msgs uint64) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(msgs), "ns/msg")
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "rows/s")
}

// latencies collects the durations of the Append calls of a benchmark, to
// report their 99th percentile.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d)
	l.mu.Unlock()
}

// report adds the p99 of the collected durations, in milliseconds, to b.
func (l *latencies) report(b *testing.B) {
	if len(l.all) == 0 {
		return
	}
	slices.Sort(l.all)
	b.ReportMetric(float64(l.all[len(l.all)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchAppend measures Append of one batch of n messages at a time to one
// room of s, reporting ns/msg, rows/s and the p99 of one Append beside ns/op.
func BenchAppend(b *testing.B, s persistence.Store, n int) {
	b.Helper()
	ctx := b.Context()
	st := MustOpenRoom(b, s, "bench")
	batch := BenchBatch(1, n)
	next := uint64(1)
	var lat latencies
	for b.Loop() {
		for i := range batch {
			batch[i].Offset = next + uint64(i)
		}
		start := time.Now()
		if err := s.Append(ctx, "bench", st.Claim(), batch); err != nil {
			b.Fatal(err)
		}
		lat.add(time.Since(start))
		next += uint64(n)
	}
	reportPerMessage(b, next-1)
	lat.report(b)
}

// BenchAppendManyRooms measures Append of one message from each of rooms
// rooms of s at once, an op being one message appended to every room:
// group commit lets them share transactions, so the cost per message falls
// far below one commit. It reports ns/msg, rows/s and the p99 of one room's
// Append beside ns/op.
func BenchAppendManyRooms(b *testing.B, s persistence.Store, rooms int) {
	b.Helper()
	ctx := b.Context()
	claims := make([]persistence.Claim, rooms)
	for i := range rooms {
		claims[i] = MustOpenRoom(b, s, fmt.Sprintf("bench-%d", i)).Claim()
	}
	next := uint64(1)
	var lat latencies
	for b.Loop() {
		var wg sync.WaitGroup
		for i := range rooms {
			wg.Go(func() {
				start := time.Now()
				if err := s.Append(ctx, fmt.Sprintf("bench-%d", i), claims[i], BenchBatch(next, 1)); err != nil {
					b.Error(err)
				}
				lat.add(time.Since(start))
			})
		}
		wg.Wait()
		next++
	}
	reportPerMessage(b, (next-1)*uint64(rooms))
	lat.report(b)
}

// BenchReadLatest50 measures reading the latest 50 messages of a room of s
// holding 10,000, beside each of others holding as many.
func BenchReadLatest50(b *testing.B, s persistence.Store, others ...string) {
	b.Helper()
	ctx := b.Context()
	for _, room := range append([]string{"bench"}, others...) {
		st := MustOpenRoom(b, s, room)
		for off := uint64(1); off <= 10_000; off += 1000 {
			if err := s.Append(ctx, room, st.Claim(), BenchBatch(off, 1000)); err != nil {
				b.Fatal(err)
			}
		}
	}
	for b.Loop() {
		res, err := s.Read(ctx, "bench", persistence.ReadQuery{Limit: 50})
		if err != nil || len(res.Messages) != 50 || !res.More {
			b.Fatalf("Read = %d msgs, More %v, %v", len(res.Messages), res.More, err)
		}
	}
}
