package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/persistence"
)

// sessionEpoch is the instant the session subtests measure expiries from.
var sessionEpoch = time.Date(2025, 3, 4, 5, 6, 7, 891_234_567, time.UTC)

// MustSaveSession saves rec or fails the test.
func MustSaveSession(t testing.TB, s persistence.SessionStore, rec persistence.SessionRecord) {
	t.Helper()
	if err := s.SaveSession(t.Context(), rec); err != nil {
		t.Fatalf("SaveSession(%+v): %v", rec, err)
	}
}

// MustLoadSession loads the session id or fails the test.
func MustLoadSession(t testing.TB, s persistence.SessionStore, id string) persistence.SessionRecord {
	t.Helper()
	rec, err := s.LoadSession(t.Context(), id)
	if err != nil {
		t.Fatalf("LoadSession(%q): %v", id, err)
	}
	return rec
}

// stored returns rec as a store returns it: Expires to the millisecond, in
// UTC.
func stored(rec persistence.SessionRecord) persistence.SessionRecord {
	rec.Expires = persistence.ExpiresTime(persistence.ExpiresMillis(rec.Expires))
	return rec
}

// checkSession fails the test unless got is want as stored.
func checkSession(t *testing.T, got, want persistence.SessionRecord) {
	t.Helper()
	want = stored(want)
	if got.ID != want.ID || got.UserID != want.UserID || got.Name != want.Name || got.Anonymous != want.Anonymous ||
		got.Expires.IsZero() != want.Expires.IsZero() || !got.Expires.Equal(want.Expires) ||
		(!got.Expires.IsZero() && got.Expires.Location() != time.UTC) {
		t.Errorf("session = %+v, want %+v", got, want)
	}
}

// runSessions checks the SessionStore half of a Store.
func runSessions(t *testing.T, open func(t *testing.T) persistence.Store) {
	t.Run("SessionsRoundTrip", func(t *testing.T) {
		s := open(t)
		recs := []persistence.SessionRecord{
			{ID: "s_attached", UserID: "u_1", Name: "Ann"},
			{ID: "s_detached", UserID: "u_2", Name: `Bö 🎭 "quoted" 'single' ; -- \ nul` + "\x00" + "end",
				Anonymous: true, Expires: sessionEpoch.Add(time.Hour)},
			{ID: "s_local", UserID: "", Name: "", Expires: sessionEpoch.In(time.FixedZone("X", 3600))},
			{ID: "s ' \" 🎭", UserID: "u_3", Name: "Cy", Expires: time.UnixMilli(1)},
		}
		for _, rec := range recs {
			MustSaveSession(t, s, rec)
		}
		for _, rec := range recs {
			checkSession(t, MustLoadSession(t, s, rec.ID), rec)
		}
		// Replacing swaps every field, attached and detached both ways.
		repl := []persistence.SessionRecord{
			{ID: "s_attached", UserID: "u_9", Name: "Ann 2", Anonymous: true, Expires: sessionEpoch},
			{ID: "s_detached", UserID: "u_8", Name: "Bob"},
		}
		for _, rec := range repl {
			MustSaveSession(t, s, rec)
		}
		for _, rec := range append(repl, recs[2:]...) {
			checkSession(t, MustLoadSession(t, s, rec.ID), rec)
		}
	})

	t.Run("SessionsInBatches", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		MustSaveSession(t, s, persistence.SessionRecord{ID: "old", UserID: "u_old", Name: "Old"})
		batch := []persistence.SessionRecord{
			{ID: "b1", UserID: "u_1", Name: "One"},
			{ID: "old", UserID: "u_9", Name: "Replaced", Expires: sessionEpoch},
			{ID: "b2 ' \" 🎭", UserID: "u_2", Name: "nul\x00", Anonymous: true, Expires: sessionEpoch.Add(time.Hour)},
			{ID: "b1", UserID: "u_1", Name: "One, later"}, // the later of one ID wins
		}
		if err := persistence.SaveSessions(ctx, s, batch); err != nil {
			t.Fatalf("SaveSessions: %v", err)
		}
		if err := persistence.SaveSessions(ctx, s, nil); err != nil {
			t.Fatalf("SaveSessions(none): %v", err)
		}
		want := map[string]persistence.SessionRecord{"b1": batch[3], "old": batch[1], batch[2].ID: batch[2]}
		got, err := persistence.LoadSessions(ctx, s, []string{"b1", "missing", "old", batch[2].ID})
		if err != nil {
			t.Fatalf("LoadSessions: %v", err)
		}
		if len(got) != len(want) {
			t.Fatalf("LoadSessions returned %d records, want %d: %+v", len(got), len(want), got)
		}
		for id, w := range want {
			checkSession(t, got[id], w)
			checkSession(t, MustLoadSession(t, s, id), w)
		}
		if none, err := persistence.LoadSessions(ctx, s, nil); err != nil || len(none) != 0 {
			t.Fatalf("LoadSessions(none) = %v, %v", none, err)
		}
	})

	t.Run("SessionsLoadAndDelete", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		if _, err := s.LoadSession(ctx, "nope"); !errors.Is(err, persistence.ErrNoSuchSession) {
			t.Fatalf("LoadSession(missing) = %v, want persistence.ErrNoSuchSession", err)
		}
		MustSaveSession(t, s, persistence.SessionRecord{ID: "a", UserID: "u", Name: "A"})
		MustSaveSession(t, s, persistence.SessionRecord{ID: "ab", UserID: "u", Name: "AB"})
		for range 2 { // deleting is idempotent
			if err := s.DeleteSession(ctx, "a"); err != nil {
				t.Fatalf("DeleteSession(a): %v", err)
			}
		}
		if err := s.DeleteSession(ctx, "never"); err != nil {
			t.Fatalf("DeleteSession(never saved): %v", err)
		}
		if _, err := s.LoadSession(ctx, "a"); !errors.Is(err, persistence.ErrNoSuchSession) {
			t.Fatalf("LoadSession(deleted) = %v, want persistence.ErrNoSuchSession", err)
		}
		checkSession(t, MustLoadSession(t, s, "ab"), persistence.SessionRecord{ID: "ab", UserID: "u", Name: "AB"})
		// Sessions and rooms are separate: a room of the same name is unaffected.
		Seed(t, s, "ab", 2)
		if err := s.DeleteSession(ctx, "ab"); err != nil {
			t.Fatal(err)
		}
		if info := MustLookup(t, s, "ab"); info.LastOffset != 2 {
			t.Fatalf("room ab after deleting session ab = %+v", info)
		}
	})

	t.Run("SessionsDeleteExpired", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		now := sessionEpoch
		recs := map[string]time.Time{
			"e1":       now.Add(-2 * time.Second),
			"e2":       now.Add(-time.Second),
			"e3":       now, // Expires <= now: expired
			"e4":       now.Add(time.Millisecond),
			"attached": {},
			"ancient":  time.UnixMilli(-5), // before 1970, still an expiry
		}
		for id, exp := range recs {
			MustSaveSession(t, s, persistence.SessionRecord{ID: id, UserID: "u_" + id, Expires: exp})
		}
		present := func(want ...string) {
			t.Helper()
			for id := range recs {
				_, err := s.LoadSession(ctx, id)
				keep := false
				for _, w := range want {
					keep = keep || w == id
				}
				if keep && err != nil || !keep && !errors.Is(err, persistence.ErrNoSuchSession) {
					t.Errorf("LoadSession(%s) = %v, want present %v", id, err, keep)
				}
			}
		}
		sweep := func(at time.Time, limit, want int) {
			t.Helper()
			n, err := s.DeleteExpiredSessions(ctx, at, limit)
			if err != nil || n != want {
				t.Fatalf("DeleteExpiredSessions(%v, %d) = %d, %v; want %d", at, limit, n, err, want)
			}
		}
		sweep(now, 0, 0)
		sweep(now, -1, 0)
		sweep(now, 2, 2) // the earliest expiries first: ancient, e1
		present("e2", "e3", "e4", "attached")
		sweep(now, 10, 2) // e2, e3
		present("e4", "attached")
		sweep(now, 10, 0)
		sweep(now.Add(time.Millisecond), 10, 1)
		present("attached")
		sweep(now.Add(1000*time.Hour), 10, 0) // attached sessions never expire
		present("attached")
	})

	t.Run("SessionsCanceledContext", func(t *testing.T) {
		s := open(t)
		MustSaveSession(t, s, persistence.SessionRecord{ID: "old", Expires: sessionEpoch})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := s.SaveSession(ctx, persistence.SessionRecord{ID: "new"}); !errors.Is(err, context.Canceled) {
			t.Errorf("SaveSession with canceled context: %v, want context.Canceled", err)
		}
		if _, err := s.LoadSession(ctx, "old"); !errors.Is(err, context.Canceled) {
			t.Errorf("LoadSession with canceled context: %v, want context.Canceled", err)
		}
		if err := s.DeleteSession(ctx, "old"); !errors.Is(err, context.Canceled) {
			t.Errorf("DeleteSession with canceled context: %v, want context.Canceled", err)
		}
		if _, err := s.DeleteExpiredSessions(ctx, sessionEpoch, 10); !errors.Is(err, context.Canceled) {
			t.Errorf("DeleteExpiredSessions with canceled context: %v, want context.Canceled", err)
		}
		if _, err := s.LoadSession(t.Context(), "new"); !errors.Is(err, persistence.ErrNoSuchSession) {
			t.Errorf("session saved by a canceled SaveSession: %v", err)
		}
		MustLoadSession(t, s, "old")
	})

	t.Run("SessionsAfterClose", func(t *testing.T) {
		s := open(t)
		MustSaveSession(t, s, persistence.SessionRecord{ID: "a"})
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		ctx := t.Context()
		checkClosed(t, "SaveSession", s.SaveSession(ctx, persistence.SessionRecord{ID: "b"}))
		_, err := s.LoadSession(ctx, "a")
		checkClosed(t, "LoadSession", err)
		checkClosed(t, "DeleteSession", s.DeleteSession(ctx, "a"))
		_, err = s.DeleteExpiredSessions(ctx, sessionEpoch, 10)
		checkClosed(t, "DeleteExpiredSessions", err)
	})
}
