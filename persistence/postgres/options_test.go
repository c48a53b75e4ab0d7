package postgres

import (
	"testing"
	"time"

	"github.com/troupe-chat/troupe/persistence/pgtest"
)

// TestPoolSize checks where the pool's size and the number of committers
// come from: the default, the DSN's pool_max_conns, and the options.
func TestPoolSize(t *testing.T) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	for _, tc := range []struct {
		name                  string
		dsn                   string
		opts                  []Option
		wantConns, wantCommit int
	}{
		{"default", dsn, nil, defaultMaxConns, defaultMaxConns / 2},
		{"dsn", dsn + "&pool_max_conns=3", nil, 3, 1},
		{"option", dsn + "&pool_max_conns=3", []Option{WithMaxConns(12)}, 12, 6},
		{"committers", dsn, []Option{WithCommitters(100)}, defaultMaxConns, defaultMaxConns},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.Context(), tc.dsn, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = s.Close() }()
			if got := int(s.pool.Config().MaxConns); got != tc.wantConns {
				t.Errorf("pool size %d, want %d", got, tc.wantConns)
			}
			if got := s.commits.Committers(); got != tc.wantCommit {
				t.Errorf("committers %d, want %d", got, tc.wantCommit)
			}
		})
	}
}

// TestStoppedTransactionIsEnded: a session that stops inside a transaction
// (its process SIGSTOPped) is ended by the server, so its row locks cannot
// keep another node from claiming the rooms.
func TestStoppedTransactionIsEnded(t *testing.T) {
	s, err := Open(t.Context(), pgtest.Shared(t).NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	tx, err := s.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(t.Context()) }()
	var pid int
	if err := tx.QueryRow(t.Context(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	// The transaction now idles, as a stopped process's would, until the
	// server ends its session.
	deadline := time.Now().Add(10 * idleInTransaction)
	for {
		var n int
		if err := s.pool.QueryRow(t.Context(), "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %d still open after %v idle in a transaction", pid, 10*idleInTransaction)
		}
		time.Sleep(50 * time.Millisecond) // polling the server's view; no event announces the end
	}
	if err := tx.Commit(t.Context()); err == nil {
		t.Fatal("a transaction whose session the server ended committed")
	}
}
