package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/storetest"
)

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
				storetest.BenchAppend(b, openBench(b, sync), n)
			})
		}
	}
}

// BenchmarkReadLatest50 measures reading the latest 50 messages of a
// room holding 10,000 (beside another room of 10,000).
func BenchmarkReadLatest50(b *testing.B) {
	storetest.BenchReadLatest50(b, openBench(b, defaultSynchronous), "other")
}

// BenchmarkMemoryAppend measures persistence.Memory.Append of a batch of 100, for
// comparison with SQLite.
func BenchmarkMemoryAppend(b *testing.B) {
	storetest.BenchAppend(b, persistence.NewMemory(), 100)
}

// BenchmarkAppendManyRooms measures Append of one message from 64 rooms at
// once (synchronous=FULL): group commit lets them share transactions, so the
// cost per message falls far below one fsync.
func BenchmarkAppendManyRooms(b *testing.B) {
	storetest.BenchAppendManyRooms(b, openBench(b, "FULL"), 64)
}
