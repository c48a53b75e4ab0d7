package postgres

import (
	"testing"

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
