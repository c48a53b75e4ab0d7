package postgres_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/pgtest"
	"github.com/troupe-chat/troupe/persistence/postgres"
	"github.com/troupe-chat/troupe/persistence/storetest"
)

// TestLeaseExpiresByDatabaseClock renews a lease and compares its stored
// expiry with the database's own clock: ttl after it, as RenewLease
// returned it.
func TestLeaseExpiresByDatabaseClock(t *testing.T) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	s := openDSN(t, dsn)
	l := storetest.MustRenew(t, s, "A", time.Hour)
	var left float64
	var stored time.Time
	query(t, dsn, `SELECT extract(epoch FROM expires - clock_timestamp())::float8, expires FROM leases WHERE node = 'A'`, &left, &stored)
	if left < 3540 || left > 3600 {
		t.Fatalf("lease expires %.1fs after the database's now, want about 3600", left)
	}
	if !stored.Equal(l.Expires) {
		t.Fatalf("stored expiry %v, RenewLease returned %v", stored, l.Expires)
	}
	// A lease the database considers expired is not live, whatever it says.
	db := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	if err := pgtest.Shared(t).Exec(t.Context(), db,
		`UPDATE leases SET expires = clock_timestamp() - interval '1 second' WHERE node = 'A'`); err != nil {
		t.Fatal(err)
	}
	if ls := storetest.MustLeases(t, s); len(ls) != 0 {
		t.Fatalf("Leases = %+v after the database expired A's, want none", ls)
	}
}

// TestClaimAcrossStores has two stores on one database, as two nodes would:
// a claim by one is refused to the other while the owner's lease is live.
func TestClaimAcrossStores(t *testing.T) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	a, b := openDSN(t, dsn), openDSN(t, dsn)
	storetest.MustRenew(t, a, "A", time.Hour)
	storetest.MustRenew(t, b, "B", time.Hour)
	st := storetest.MustClaim(t, a, "r", "A")
	var oe *persistence.OwnedError
	if _, err := b.ClaimRoom(t.Context(), "r", "B"); !errors.As(err, &oe) || oe.Owner != "A" {
		t.Fatalf("ClaimRoom on the other node = %v, want OwnedError owner A", err)
	}
	storetest.MustRelease(t, a, "A")
	if got := storetest.MustClaim(t, b, "r", "B"); got.Fence <= st.Fence {
		t.Fatalf("claim after release = %+v, want fence above %d", got, st.Fence)
	}
	if err := a.Append(t.Context(), "r", st.Claim(), storetest.Batch(1, 1)); !errors.Is(err, persistence.ErrFenced) {
		t.Fatalf("Append by the released node: %v, want persistence.ErrFenced", err)
	}
}

// TestMigratesVersion2 opens a database a build that knew schema version 2
// (no leases, no owners) wrote: its rooms survive unowned, and claims and
// leases work.
func TestMigratesVersion2(t *testing.T) {
	srv := pgtest.Shared(t)
	dsn := srv.NewDatabase(t)
	db := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	migs := postgres.Migrations()
	for _, q := range []string{
		`CREATE TABLE schema_versions (version integer NOT NULL PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
		migs[0], migs[1],
		`INSERT INTO schema_versions (version) VALUES (1), (2)`,
		`INSERT INTO rooms (name, epoch, last_offset, fence) VALUES ('old', '00000000000000aa', 0, nextval('fences'))`,
	} {
		if err := srv.Exec(t.Context(), db, q); err != nil {
			t.Fatal(err)
		}
	}
	s := openDSN(t, dsn)
	if info := storetest.MustLookup(t, s, "old"); info.Owner != "" || info.Epoch != "00000000000000aa" {
		t.Fatalf("migrated room = %+v, want epoch kept and no owner", info)
	}
	storetest.MustRenew(t, s, "A", time.Hour)
	st := storetest.MustClaim(t, s, "old", "A")
	if st.Created || st.Owner != "A" {
		t.Fatalf("ClaimRoom of a migrated room = %+v", st)
	}
	storetest.MustAppend(t, s, "old", st.Claim(), storetest.Batch(1, 1))
}
