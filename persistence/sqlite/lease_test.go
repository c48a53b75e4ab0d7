package sqlite

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/persistence/storetest"
)

// TestMigratesVersion3 opens a database a build that knew schema version 3
// (no leases, no owners) wrote: its rooms survive unowned, and claims and
// leases work.
func TestMigratesVersion3(t *testing.T) {
	path := filepath.Join(t.TempDir(), "troupe.db")
	db, err := sql.Open("sqlite", dsn(path, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{schemaV1, schemaV2, schemaV3,
		`INSERT INTO rooms (name, epoch, last_offset, created_at, fence) VALUES ('old', '00000000000000aa', 0, 0, 1)`,
		`UPDATE claims SET last_fence = 1`,
		`PRAGMA user_version = 3`,
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
		t.Fatalf("Open of a version 3 database: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if info := storetest.MustLookup(t, s, "old"); info.Owner != "" || info.Epoch != "00000000000000aa" {
		t.Fatalf("migrated room = %+v, want epoch kept and no owner", info)
	}
	storetest.MustRenew(t, s, "A", time.Hour)
	st := storetest.MustClaim(t, s, "old", "A")
	if st.Created || st.Owner != "A" || st.Fence != 2 {
		t.Fatalf("ClaimRoom of a migrated room = %+v, want owner A, fence 2", st)
	}
	storetest.MustAppend(t, s, "old", st.Claim(), storetest.Batch(1, 1))
}

// TestLeasesSurviveReopen closes a store and opens its file again: leases
// and owners persist, so a restarted node's rooms stay its own while its
// lease lives.
func TestLeasesSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "troupe.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	l := storetest.MustRenew(t, s, "A", time.Hour)
	storetest.MustClaim(t, s, "r", "A")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if ls := storetest.MustLeases(t, s); len(ls) != 1 || ls[0] != l {
		t.Fatalf("Leases after reopen = %+v, want [%+v]", ls, l)
	}
	if info := storetest.MustLookup(t, s, "r"); info.Owner != "A" {
		t.Fatalf("owner after reopen = %q, want A", info.Owner)
	}
	if _, err := s.ClaimRoom(t.Context(), "r", "B"); err == nil {
		t.Fatal("B claimed A's room while A's lease lives")
	}
}
