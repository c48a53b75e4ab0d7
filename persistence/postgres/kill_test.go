package postgres_test

import (
	"context"
	"testing"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/pgtest"
	"github.com/troupe-chat/troupe/persistence/postgres"
	"github.com/troupe-chat/troupe/persistence/storetest"
)

// TestSurvivesKill appends in a child process, kills it with SIGKILL right
// after Append returned, without Close, and checks that every acknowledged
// message is in the database (see storetest.SurvivesKill). The environment
// variable carries the DSN the child appends to.
func TestSurvivesKill(t *testing.T) {
	storetest.SurvivesKill(t, "TROUPE_POSTGRES_KILL_CHILD_DSN",
		func() string { return pgtest.Shared(t).NewDatabase(t) },
		func(ctx context.Context, dsn string) (persistence.Store, error) { return postgres.Open(ctx, dsn) })
}
