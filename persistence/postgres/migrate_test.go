package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/pgtest"
	"github.com/troupe-chat/troupe/persistence/postgres"
	"github.com/troupe-chat/troupe/persistence/storetest"
)

// query runs one query returning one row on dsn, on a connection of its own.
func query(t *testing.T, dsn, sql string, dest ...any) {
	t.Helper()
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close(context.Background()) }()
	if err := c.QueryRow(t.Context(), sql).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// TestConcurrentOpensMigrateOnce opens one fresh database from several
// stores at once, as nodes starting together would: all succeed, and each
// migration is applied once.
func TestConcurrentOpensMigrateOnce(t *testing.T) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	const n = 6
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(t.Context(), dsn) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Open %d: %v", i, errs[i])
		}
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	var rows, distinct, top int
	query(t, dsn, `SELECT count(*), count(DISTINCT version), max(version) FROM schema_versions`, &rows, &distinct, &top)
	if rows != distinct || rows != top || top < 1 {
		t.Fatalf("schema_versions: %d rows, %d distinct, max %d; want each version 1..max once", rows, distinct, top)
	}
	// Every store sees the others' rooms: one schema.
	st := storetest.MustOpenRoom(t, stores[0], "r")
	if info := storetest.MustLookup(t, stores[n-1], "r"); info.Epoch != st.Epoch {
		t.Fatalf("store %d sees epoch %s, want %s", n-1, info.Epoch, st.Epoch)
	}
}

// TestNewerSchemaRefused opens a database a newer build has migrated: Open
// fails and says why.
func TestNewerSchemaRefused(t *testing.T) {
	srv := pgtest.Shared(t)
	dsn := srv.NewDatabase(t)
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	db := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	if err := srv.Exec(t.Context(), db, `INSERT INTO schema_versions (version) VALUES (999)`); err != nil {
		t.Fatal(err)
	}
	s, err = postgres.Open(t.Context(), dsn)
	if err == nil {
		_ = s.Close()
		t.Fatal("Open of a newer schema succeeded")
	}
	if !strings.Contains(err.Error(), "schema version 999 is newer") {
		t.Fatalf("Open of a newer schema: %v", err)
	}
}

// TestReopenKeepsEverything closes a store and opens its database again
// (see storetest.ReopenKeepsEverything).
func TestReopenKeepsEverything(t *testing.T) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	storetest.ReopenKeepsEverything(t, func() (persistence.Store, error) { return postgres.Open(t.Context(), dsn) })
}
