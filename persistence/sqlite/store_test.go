package sqlite

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/storetest"
)

// TestContract runs the persistence.Store contract against Store on a fresh
// file.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) persistence.Store { return openTest(t) })
}

// openTest opens a store on a new file in t's temp dir, closed on cleanup.
func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "troupe.db"))
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

// TestReopenKeepsEverything closes a store and opens its file again (see
// storetest.ReopenKeepsEverything).
func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "troupe.db")
	storetest.ReopenKeepsEverything(t, func() (persistence.Store, error) { return Open(t.Context(), path) })
}

// TestAppendRollsBack makes the database itself fail an insert in the
// middle of a batch and checks that none of the batch is stored.
func TestAppendRollsBack(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	st := storetest.Seed(t, s, "r", 2)
	if _, err := s.w.ExecContext(ctx, `CREATE TEMP TRIGGER boom BEFORE INSERT ON messages
		WHEN NEW.id = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END`); err != nil {
		t.Fatal(err)
	}
	batch := storetest.Batch(3, 5)
	batch[3].ID = "boom"
	err := s.Append(ctx, "r", st.Claim(), batch)
	if err == nil || !strings.Contains(err.Error(), "boom") || errors.Is(err, persistence.ErrOffsetMismatch) {
		t.Fatalf("Append with failing insert: %v, want the trigger's error", err)
	}
	if info := storetest.MustLookup(t, s, "r"); info.LastOffset != 2 {
		t.Fatalf("last offset %d after failed append, want 2", info.LastOffset)
	}
	if got := storetest.Offsets(storetest.MustRead(t, s, "r", persistence.ReadQuery{Limit: 100}).Messages); !slices.Equal(got, storetest.Span(1, 2)) {
		t.Fatalf("stream after failed append = %v, want 1..2", got)
	}
	storetest.MustAppend(t, s, "r", st.Claim(), storetest.Batch(3, 5)) // the writer connection is usable again
}

// TestSettings checks the connection settings and schema version the
// store promises.
func TestSettings(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	for _, tc := range []struct {
		db     *sql.DB
		pragma string
		want   string
	}{
		{s.w, "journal_mode", "wal"},
		{s.w, "synchronous", "2"}, // FULL
		{s.w, "foreign_keys", "1"},
		{s.w, "busy_timeout", "5000"},
		{s.w, "user_version", strconv.Itoa(len(migrations()))},
		{s.r, "foreign_keys", "1"},
		{s.r, "busy_timeout", "5000"},
		{s.r, "query_only", "1"},
	} {
		var got string
		if err := tc.db.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s = %s, want %s", tc.pragma, got, tc.want)
		}
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO messages (room, "offset", id, ts, from_id, from_name, kind, text)
		VALUES ('no-such-room', 1, 'm', 0, '', '', 'text', '')`); err == nil {
		t.Error("inserting a message of an unknown room succeeded, want a foreign key error")
	}
}

// TestRefusesNewerSchema checks that a database migrated by a newer
// build is not opened.
func TestRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "troupe.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(t.Context(), "PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(t.Context(), path); err == nil || !strings.Contains(err.Error(), "newer") {
		if s != nil {
			_ = s.Close()
		}
		t.Fatalf("Open of a newer schema: %v, want an error", err)
	}
}

// TestPaths checks that parent directories are created and that file
// names with URI-special characters are used verbatim.
func TestPaths(t *testing.T) {
	dir := t.TempDir()
	for _, rel := range []string{
		filepath.Join("a", "b", "c", "troupe.db"),
		"we?ird #name %20&x=1.db",
	} {
		path := filepath.Join(dir, rel)
		s, err := Open(t.Context(), path)
		if err != nil {
			t.Fatalf("Open(%q): %v", rel, err)
		}
		storetest.Seed(t, s, "r", 1)
		if s.Path() != path {
			t.Errorf("Path() = %q, want %q", s.Path(), path)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("database file for %q: %v", rel, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"a", "we?ird #name %20&x=1.db"}; !slices.Equal(names, want) {
		t.Errorf("files in dir = %q, want %q", names, want)
	}
	if _, err := Open(t.Context(), ""); err == nil {
		t.Error("Open(\"\") succeeded")
	}
}

// TestMigratesVersion1 opens a database written by a build that knew only
// schema version 1 (no fences): its rooms and messages survive the
// migration, and claiming and appending work on them.
func TestMigratesVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "troupe.db")
	db, err := sql.Open("sqlite", dsn(path, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{schemaV1,
		`INSERT INTO rooms (name, epoch, last_offset, created_at) VALUES ('old', '00000000000000aa', 2, 0)`,
		`INSERT INTO messages (room, "offset", id, ts, from_id, from_name, kind, text) VALUES
			('old', 1, 'm_1', 1, 'u', 'U', 'text', 'one'), ('old', 2, 'm_2', 2, 'u', 'U', 'text', 'two')`,
		`PRAGMA user_version = 1`,
	} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open of a version 1 database: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	st := storetest.MustOpenRoom(t, s, "old")
	if st.Created || st.Epoch != "00000000000000aa" || st.LastOffset != 2 || st.Fence == 0 {
		t.Fatalf("OpenRoom of a migrated room = %+v, want its epoch and stream, and a fence", st)
	}
	storetest.MustAppend(t, s, "old", st.Claim(), storetest.Batch(3, 1))
	if got := storetest.Offsets(storetest.MustRead(t, s, "old", persistence.ReadQuery{Limit: 10}).Messages); !slices.Equal(got, storetest.Span(1, 3)) {
		t.Fatalf("migrated stream = %v, want 1..3", got)
	}
}
