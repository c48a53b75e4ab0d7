package sqlite

import (
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/storetest"
)

// TestMigratesVersion4Documents opens a database written by a build that
// knew schema version 4 (no documents), whose stream already holds
// messages of kind doc: the migration indexes them, reads by kind find
// them, and snapshots and their trim bound work on the migrated room.
func TestMigratesVersion4Documents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "troupe.db")
	db, err := sql.Open("sqlite", dsn(path, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{schemaV1, schemaV2, schemaV3, schemaV4,
		`INSERT INTO rooms (name, epoch, last_offset, created_at, fence) VALUES ('old', '00000000000000aa', 4, 0, 0)`,
		`INSERT INTO messages (room, "offset", id, ts, from_id, from_name, kind, text, data) VALUES
			('old', 1, 'm_1', 1, 'u', 'U', 'text', 'one', NULL), ('old', 2, 'm_2', 2, 'u', 'U', 'doc', '', '"AAE="'),
			('old', 3, 'm_3', 3, 'u', 'U', 'text', 'three', NULL), ('old', 4, 'm_4', 4, 'u', 'U', 'doc', '', '"AAI="')`,
		`PRAGMA user_version = 4`,
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
		t.Fatalf("Open of a version 4 database: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	res := storetest.MustRead(t, s, "old", persistence.ReadQuery{After: 0, Limit: 10, Kind: persistence.KindDoc})
	if got := storetest.Offsets(res.Messages); !slices.Equal(got, []uint64{2, 4}) || string(res.Messages[1].Data) != `"AAI="` {
		t.Fatalf("doc messages after migration = %v", got)
	}
	st := storetest.MustOpenRoom(t, s, "old")
	all := persistence.TrimRequest{UpTo: 4, Limit: 10}
	if n := storetest.MustTrim(t, s, "old", all); n != 1 {
		t.Fatalf("Trim without a snapshot = %d, want 1 (up to the doc update at 2)", n)
	}
	storetest.MustSaveSnapshot(t, s, "old", st.Claim(), persistence.Snapshot{Offset: 2, Data: []byte("s")})
	if n := storetest.MustTrim(t, s, "old", all); n != 2 {
		t.Fatalf("Trim with a snapshot at 2 = %d, want 2 (2 and 3)", n)
	}
	// The partial index serves the document reads.
	var plan string
	if err := s.r.QueryRowContext(t.Context(), `EXPLAIN QUERY PLAN SELECT "offset" FROM messages
		WHERE room = 'old' AND kind = 'doc' AND "offset" > 0 ORDER BY "offset" LIMIT 5`).Scan(new(int), new(int), new(int), &plan); err != nil {
		t.Fatal(err)
	}
	if want := "messages_doc"; !strings.Contains(plan, want) {
		t.Fatalf("query plan %q does not use %s", plan, want)
	}
}
