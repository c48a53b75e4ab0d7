package sqlite

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"reflect"
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

// TestReopenKeepsEverything closes a store and opens its file again:
// epochs, offsets, messages, configuration and deletions must all persist.
func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "troupe.db")
	ctx := t.Context()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	lobby := storetest.Seed(t, s, "lobby", 30)
	data := storetest.Batch(31, 1)
	data[0].Data, data[0].CID, data[0].ReplyTo = []byte(`{"a":1}`), "c1", "m_2"
	storetest.MustAppend(t, s, "lobby", lobby.Claim(), data)
	cfg := persistence.RoomConfig{Private: true, PasswordHash: "$2a$10$hash", MaxMembers: 7}
	if _, err := s.ConfigureRoom(ctx, "secret", cfg); err != nil {
		t.Fatal(err)
	}
	storetest.Seed(t, s, "gone", 3)
	if err := s.DeleteRoom(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	wantRooms, err := s.ListRooms(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantMsgs := storetest.MustRead(t, s, "lobby", persistence.ReadQuery{Limit: 100}).Messages
	wantCIDs, err := s.RecentCIDs(ctx, "lobby", 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { _ = s2.Close() })
	if got, err := s2.ListRooms(ctx); err != nil || !reflect.DeepEqual(got, wantRooms) {
		t.Fatalf("ListRooms after reopen = %+v, %v\nwant %+v", got, err, wantRooms)
	}
	if got := storetest.MustRead(t, s2, "lobby", persistence.ReadQuery{Limit: 100}).Messages; !reflect.DeepEqual(got, wantMsgs) || len(got) != 31 {
		t.Fatalf("messages after reopen differ (%d, want %d)", len(got), len(wantMsgs))
	}
	if got, err := s2.RecentCIDs(ctx, "lobby", 10); err != nil || !reflect.DeepEqual(got, wantCIDs) || len(got) != 1 {
		t.Fatalf("RecentCIDs after reopen = %+v, %v; want %+v", got, err, wantCIDs)
	}
	st := storetest.MustOpenRoom(t, s2, "lobby")
	if st.Created || st.Epoch != lobby.Epoch || st.LastOffset != 31 {
		t.Fatalf("OpenRoom after reopen = %+v, want epoch %s last offset 31", st, lobby.Epoch)
	}
	if got := storetest.MustOpenRoom(t, s2, "secret"); got.Created || got.Config != cfg {
		t.Fatalf("configured room after reopen = %+v", got)
	}
	if _, err := s2.LookupRoom(ctx, "gone"); !errors.Is(err, persistence.ErrNoSuchRoom) {
		t.Fatalf("deleted room after reopen: %v", err)
	}
	storetest.MustAppend(t, s2, "lobby", st.Claim(), storetest.Batch(32, 2))
	if err := s2.Append(ctx, "lobby", st.Claim(), storetest.Batch(32, 1)); !errors.Is(err, persistence.ErrOffsetMismatch) {
		t.Fatalf("overlapping append after reopen: %v", err)
	}
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
