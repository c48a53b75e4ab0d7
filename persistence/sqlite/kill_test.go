package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/storetest"
)

// TestSurvivesKill appends in a child process, kills it with SIGKILL right
// after Append returned, without Close, and checks that every acknowledged
// message is in the file (see storetest.SurvivesKill). The environment
// variable names the database file the child appends to.
func TestSurvivesKill(t *testing.T) {
	storetest.SurvivesKill(t, "TROUPE_PERSISTENCE_KILL_CHILD_DB",
		func() string { return filepath.Join(t.TempDir(), "troupe.db") },
		func(ctx context.Context, path string) (persistence.Store, error) { return Open(ctx, path) })
}
