package postgres_test

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/pgtest"
	"github.com/troupe-chat/troupe/persistence/postgres"
)

// benchText is a message text of about 100 bytes.
var benchText = strings.Repeat("lorem ipsum ", 8) + "dolor"

// benchBatch returns n typical messages starting at offset from.
func benchBatch(from uint64, n int) []persistence.Message {
	out := make([]persistence.Message, n)
	for i := range out {
		off := from + uint64(i)
		out[i] = persistence.Message{
			ID: fmt.Sprintf("m_%016x", off), Offset: off, TS: 1_700_000_000_000 + int64(off),
			FromID: "u_0123456789", FromName: "Ann", Kind: "text", Text: benchText,
			CID: fmt.Sprintf("c%d", off),
		}
	}
	return out
}

// openBench opens a store on a new database of the shared server (fsync
// on), its sessions running with synchronous_commit set to syncCommit ("on"
// is the server default and what troupe relies on; "off" shows what the
// commits' WAL flushes cost).
func openBench(b *testing.B, syncCommit string) *postgres.Store {
	b.Helper()
	dsn := pgtest.Shared(b).NewDatabase(b) + "&options=" + strings.ReplaceAll(url.QueryEscape("-c synchronous_commit="+syncCommit), "+", "%20")
	s, err := postgres.Open(b.Context(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkAppend measures Append of one committed batch of 1 and of 100
// messages to one room, with and without waiting for the WAL flush.
func BenchmarkAppend(b *testing.B) {
	for _, sync := range []string{"on", "off"} {
		for _, n := range []int{1, 100} {
			b.Run(fmt.Sprintf("batch=%d/synchronous_commit=%s", n, sync), func(b *testing.B) {
				benchAppend(b, openBench(b, sync), n)
			})
		}
	}
}

// benchAppend appends batches of n messages to one room of s.
func benchAppend(b *testing.B, s *postgres.Store, n int) {
	ctx := b.Context()
	st, err := s.OpenRoom(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	batch := benchBatch(1, n)
	next := uint64(1)
	for b.Loop() {
		for i := range batch {
			batch[i].Offset = next + uint64(i)
		}
		if err := s.Append(ctx, "bench", st.Claim(), batch); err != nil {
			b.Fatal(err)
		}
		next += uint64(n)
	}
	msgs := float64(next - 1)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/msgs, "ns/msg")
	b.ReportMetric(msgs/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkAppendManyRooms measures Append of one message from 64 rooms at
// once: group commit lets them share transactions, so the cost per message
// falls far below one commit.
func BenchmarkAppendManyRooms(b *testing.B) {
	s := openBench(b, "on")
	ctx := b.Context()
	const rooms = 64
	claims := make([]persistence.Claim, rooms)
	for i := range rooms {
		st, err := s.OpenRoom(ctx, fmt.Sprintf("bench-%d", i))
		if err != nil {
			b.Fatal(err)
		}
		claims[i] = st.Claim()
	}
	next := uint64(1)
	for b.Loop() {
		var wg sync.WaitGroup
		for i := range rooms {
			wg.Go(func() {
				if err := s.Append(ctx, fmt.Sprintf("bench-%d", i), claims[i], benchBatch(next, 1)); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		next++
	}
	msgs := float64((next - 1) * rooms)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/msgs, "ns/msg")
	b.ReportMetric(msgs/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkReadLatest50 measures reading the latest 50 messages of a room
// holding 10,000.
func BenchmarkReadLatest50(b *testing.B) {
	s := openBench(b, "on")
	ctx := b.Context()
	st, err := s.OpenRoom(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	for off := uint64(1); off <= 10_000; off += 1000 {
		if err := s.Append(ctx, "bench", st.Claim(), benchBatch(off, 1000)); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		res, err := s.Read(ctx, "bench", persistence.ReadQuery{Limit: 50})
		if err != nil || len(res.Messages) != 50 || !res.More {
			b.Fatalf("Read = %d msgs, More %v, %v", len(res.Messages), res.More, err)
		}
	}
}
