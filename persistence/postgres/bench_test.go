package postgres_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/troupe-chat/troupe/persistence/pgtest"
	"github.com/troupe-chat/troupe/persistence/postgres"
	"github.com/troupe-chat/troupe/persistence/storetest"
)

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
				storetest.BenchAppend(b, openBench(b, sync), n)
			})
		}
	}
}

// BenchmarkAppendManyRooms measures Append of one message from 64 rooms at
// once: group commit lets them share transactions, so the cost per message
// falls far below one commit.
func BenchmarkAppendManyRooms(b *testing.B) {
	storetest.BenchAppendManyRooms(b, openBench(b, "on"), 64)
}

// BenchmarkReadLatest50 measures reading the latest 50 messages of a room
// holding 10,000.
func BenchmarkReadLatest50(b *testing.B) {
	storetest.BenchReadLatest50(b, openBench(b, "on"))
}
