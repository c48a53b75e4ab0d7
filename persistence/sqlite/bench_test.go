package sqlite

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/troupe-chat/troupe/persistence"
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

// openBench opens a SQLite store with the given synchronous mode in b's
// temp dir.
func openBench(b *testing.B, synchronous string) *Store {
	b.Helper()
	s, err := openSync(b.Context(), filepath.Join(b.TempDir(), "bench.db"), synchronous)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkAppend measures Append of one committed batch, per batch
// size and synchronous mode (FULL is what Open uses).
func BenchmarkAppend(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		for _, n := range []int{1, 100} {
			b.Run(fmt.Sprintf("batch=%d/sync=%s", n, sync), func(b *testing.B) {
				s := openBench(b, sync)
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
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(next-1), "ns/msg")
			})
		}
	}
}

// BenchmarkReadLatest50 measures reading the latest 50 messages of a
// room holding 10,000 (beside another room of 10,000).
func BenchmarkReadLatest50(b *testing.B) {
	s := openBench(b, defaultSynchronous)
	ctx := b.Context()
	for _, room := range []string{"bench", "other"} {
		st, err := s.OpenRoom(ctx, room)
		if err != nil {
			b.Fatal(err)
		}
		for off := uint64(1); off <= 10_000; off += 1000 {
			if err := s.Append(ctx, room, st.Claim(), benchBatch(off, 1000)); err != nil {
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

// BenchmarkMemoryAppend measures persistence.Memory.Append of a batch of 100, for
// comparison with SQLite.
func BenchmarkMemoryAppend(b *testing.B) {
	s := persistence.NewMemory()
	ctx := b.Context()
	st, err := s.OpenRoom(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	batch := benchBatch(1, 100)
	next := uint64(1)
	for b.Loop() {
		for i := range batch {
			batch[i].Offset = next + uint64(i)
		}
		if err := s.Append(ctx, "bench", st.Claim(), batch); err != nil {
			b.Fatal(err)
		}
		next += 100
	}
}

// BenchmarkAppendManyRooms measures Append of one message from 64 rooms at
// once (synchronous=FULL): group commit lets them share transactions, so the
// cost per message falls far below one fsync.
func BenchmarkAppendManyRooms(b *testing.B) {
	s := openBench(b, "FULL")
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
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.Append(ctx, fmt.Sprintf("bench-%d", i), claims[i], benchBatch(next, 1)); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		next++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64((next-1)*rooms), "ns/msg")
}
