package postgres_test

import (
	"testing"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/pgtest"
	"github.com/troupe-chat/troupe/persistence/postgres"
	"github.com/troupe-chat/troupe/persistence/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestContract runs the persistence.Store contract against Store on a fresh
// database.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) persistence.Store { return openTest(t) })
}

// openTest opens a store on a new database of the shared server, closed on
// cleanup.
func openTest(t *testing.T) *postgres.Store {
	t.Helper()
	return openDSN(t, pgtest.Shared(t).NewDatabase(t))
}

// openDSN opens a store on dsn, closed on cleanup.
func openDSN(t *testing.T, dsn string, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}
