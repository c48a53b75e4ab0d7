package sqlite

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/storetest"
)

// TestMigratesVersion2 opens a database written by a build that knew schema
// version 2 (no sessions): its rooms survive, and sessions and trims work.
func TestMigratesVersion2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "troupe.db")
	db, err := sql.Open("sqlite", dsn(path, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{schemaV1, schemaV2,
		`INSERT INTO rooms (name, epoch, last_offset, created_at, fence) VALUES ('old', '00000000000000aa', 2, 0, 0)`,
		`INSERT INTO messages (room, "offset", id, ts, from_id, from_name, kind, text) VALUES
			('old', 1, 'm_1', 1, 'u', 'U', 'text', 'one'), ('old', 2, 'm_2', 2, 'u', 'U', 'text', 'two')`,
		`PRAGMA user_version = 2`,
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
		t.Fatalf("Open of a version 2 database: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	rec := persistence.SessionRecord{ID: "s", UserID: "u", Name: "U", Expires: time.UnixMilli(5).UTC()}
	storetest.MustSaveSession(t, s, rec)
	if got := storetest.MustLoadSession(t, s, "s"); got != rec {
		t.Fatalf("session after migration = %+v, want %+v", got, rec)
	}
	if n := storetest.MustTrim(t, s, "old", persistence.TrimRequest{UpTo: 1, Limit: 10}); n != 1 {
		t.Fatalf("Trim of a migrated room = %d, want 1", n)
	}
	if got := storetest.MustOldest(t, s, "old"); got != 2 {
		t.Fatalf("OldestOffset after trim = %d, want 2", got)
	}
}
