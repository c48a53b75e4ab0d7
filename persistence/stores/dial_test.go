package stores

import (
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/pgtest"
	"github.com/troupe-chat/troupe/persistence/storetest"
)

// TestDialWaitsForPostgres dials a PostgreSQL that is down: Dial returns a
// store whose calls fail with ErrNotOpen, and once the server is up the
// same store serves, without a restart of its user.
func TestDialWaitsForPostgres(t *testing.T) {
	pg := pgtest.New(t)
	dsn := pg.NewDatabase(t)
	if err := pg.StopImmediate(); err != nil {
		t.Fatal(err)
	}
	s, err := Dial(t.Context(), dsn, Backoff{Min: 10 * time.Millisecond, Max: 50 * time.Millisecond}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Dial of a PostgreSQL that is down: %v, want a store that keeps trying", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Ping(t.Context()); !errors.Is(err, ErrNotOpen) {
		t.Fatalf("Ping while PostgreSQL is down: %v, want ErrNotOpen", err)
	}
	if _, err := s.OpenRoom(t.Context(), "r"); !errors.Is(err, ErrNotOpen) {
		t.Fatalf("OpenRoom while PostgreSQL is down: %v, want ErrNotOpen", err)
	}
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for err := s.Ping(t.Context()); err != nil; err = s.Ping(t.Context()) {
		if !errors.Is(err, ErrNotOpen) || time.Now().After(deadline) {
			t.Fatalf("Ping after PostgreSQL came back: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // the retries announce nothing; poll
	}
	st := storetest.Seed(t, s, "r", 5)
	if info := storetest.MustLookup(t, s, "r"); info.LastOffset != 5 || info.Epoch != st.Epoch {
		t.Fatalf("room through the dialed store = %+v", info)
	}
	storetest.MustRenew(t, s, "A", time.Hour)
	if got := storetest.MustLeases(t, s); len(got) != 1 || got[0].Node != "A" {
		t.Fatalf("Leases through the dialed store = %+v", got)
	}
	if c := storetest.MustClaim(t, s, "r", "A"); c.Owner != "A" || c.Fence <= st.Fence {
		t.Fatalf("ClaimRoom through the dialed store = %+v", c)
	}
	storetest.MustRelease(t, s, "A")
}

// TestDialingClusterCallsWaitForTheStore: while the store is not open, the
// lease and claim calls fail with ErrNotOpen, and after Close with ErrClosed.
func TestDialingClusterCallsWaitForTheStore(t *testing.T) {
	s, err := Dial(t.Context(), "postgres://u:secret@127.0.0.1:1/troupe?sslmode=disable", Backoff{Min: time.Hour, Max: time.Hour}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, want := range []error{ErrNotOpen, persistence.ErrClosed} {
		_, errClaim := s.ClaimRoom(ctx, "r", "A")
		_, errRenew := s.RenewLease(ctx, "A", time.Second)
		_, errLeases := s.Leases(ctx)
		for name, err := range map[string]error{"ClaimRoom": errClaim, "RenewLease": errRenew,
			"ReleaseLease": s.ReleaseLease(ctx, "A"), "Leases": errLeases} {
			if !errors.Is(err, want) {
				t.Errorf("%s: %v, want %v", name, err, want)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDialStopsRetryingOnClose closes a store still dialing: Close returns
// promptly and later calls fail with ErrClosed.
func TestDialStopsRetryingOnClose(t *testing.T) {
	s, err := Dial(t.Context(), "postgres://u:secret@127.0.0.1:1/troupe?sslmode=disable", Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); !errors.Is(err, persistence.ErrClosed) {
		t.Fatalf("Ping after Close: %v, want ErrClosed", err)
	}
}

// TestDialFailsFastOnLocalStores: a bad URL and an SQLite file that cannot be
// opened are configuration errors, not outages.
func TestDialFailsFastOnLocalStores(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	if _, err := Dial(t.Context(), "mysql://x", DefaultBackoff(), log); err == nil {
		t.Fatal("Dial of an unknown scheme succeeded")
	}
	file := filepath.Join(t.TempDir(), "f.db")
	s, err := Open(t.Context(), "sqlite://"+file)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if _, err := Dial(t.Context(), "sqlite://"+filepath.Join(file, "under-a-file.db"), DefaultBackoff(), log); err == nil {
		t.Fatal("Dial of an SQLite path under a file succeeded")
	}
}
