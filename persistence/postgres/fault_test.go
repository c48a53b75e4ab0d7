package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/pgtest"
	"github.com/troupe-chat/troupe/persistence/postgres"
	"github.com/troupe-chat/troupe/persistence/storetest"
)

// dbName returns the database name of a pgtest DSN.
func dbName(dsn string) string {
	return dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
}

// TestOpenUnreachable checks that Open fails at once, saying why, when
// nothing listens; that it gives up when its context ends on a server that
// never answers; and that no error carries the password.
func TestOpenUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	start := time.Now()
	_, err = postgres.Open(t.Context(), fmt.Sprintf("postgres://troupe:s3cret@127.0.0.1:%d/troupe?sslmode=disable", closedPort))
	if err == nil || !strings.Contains(err.Error(), "cannot reach the PostgreSQL server") {
		t.Fatalf("Open of a closed port: %v", err)
	}
	if strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "troupe:xxxxx@") {
		t.Fatalf("Open error does not redact the password: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Open of a closed port took %v", d)
	}

	// A server that accepts connections and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = silent.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			_ = c.Close()
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = postgres.Open(ctx, "postgres://troupe:s3cret@"+silent.Addr().String()+"/troupe?sslmode=disable")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Open of a silent server: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Open of a silent server took %v, past its context's 300ms", d)
	}

	if _, err := postgres.Open(t.Context(), "postgres://u:s3cret@host:notaport/db"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Open of a malformed DSN: %v", err)
	}
}

// TestReadOnlyDatabase makes the database read-only for new connections:
// the store still opens and reads, but claims and appends fail, and nothing
// of the refused batch is stored.
func TestReadOnlyDatabase(t *testing.T) {
	srv := pgtest.Shared(t)
	dsn := srv.NewDatabase(t)
	ctx := t.Context()
	s := openDSN(t, dsn)
	st := storetest.Seed(t, s, "r", 5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Exec(ctx, "postgres", "ALTER DATABASE "+dbName(dsn)+" SET default_transaction_read_only = on"); err != nil {
		t.Fatal(err)
	}
	ro := openDSN(t, dsn)
	if err := ro.Append(ctx, "r", st.Claim(), storetest.Batch(6, 3)); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("Append to a read-only database: %v, want an error naming read-only", err)
	}
	if _, err := ro.OpenRoom(ctx, "new"); err == nil {
		t.Fatal("OpenRoom on a read-only database succeeded")
	}
	if got := storetest.Offsets(storetest.MustRead(t, ro, "r", persistence.ReadQuery{Limit: 10}).Messages); !slices.Equal(got, storetest.Span(1, 5)) {
		t.Fatalf("stream on a read-only database = %v", got)
	}

	if err := srv.Exec(ctx, "postgres", "ALTER DATABASE "+dbName(dsn)+" SET default_transaction_read_only = off"); err != nil {
		t.Fatal(err)
	}
	rw := openDSN(t, dsn)
	if info := storetest.MustLookup(t, rw, "r"); info.LastOffset != 5 {
		t.Fatalf("last offset %d after the refused append, want 5", info.LastOffset)
	}
	if _, err := rw.LookupRoom(ctx, "new"); !errors.Is(err, persistence.ErrNoSuchRoom) {
		t.Fatalf("room of the refused claim: %v", err)
	}
	if got := len(storetest.MustRead(t, rw, "r", persistence.ReadQuery{Limit: 10}).Messages); got != 5 {
		t.Fatalf("%d messages after the refused append, want 5", got)
	}
}

// TestServerStopsWhileAppending stops the server as a crash would while
// rooms append: appends fail within their context instead of hanging; after
// a restart the same store works again (the pool reconnects), and every
// batch acknowledged before the crash is stored.
func TestServerStopsWhileAppending(t *testing.T) {
	srv := pgtest.New(t)
	dsn := srv.NewDatabase(t)
	s := openDSN(t, dsn)
	ctx := t.Context()
	const rooms, per = 8, 3
	const callTimeout = 10 * time.Second
	claims := make([]persistence.Claim, rooms)
	for i := range rooms {
		claims[i] = storetest.MustOpenRoom(t, s, fmt.Sprintf("r%d", i)).Claim()
	}
	acked := make([]uint64, rooms) // each written only by its room's goroutine
	enough := make(chan struct{})  // closed once every room has some acknowledged batches
	var ready sync.WaitGroup
	ready.Add(rooms)
	go func() { ready.Wait(); close(enough) }()
	var wg sync.WaitGroup
	for i := range rooms {
		wg.Go(func() {
			room := fmt.Sprintf("r%d", i)
			counted := false
			for {
				actx, cancel := context.WithTimeout(ctx, callTimeout)
				start := time.Now()
				err := s.Append(actx, room, claims[i], storetest.Batch(acked[i]+1, per))
				cancel()
				if err != nil {
					if d := time.Since(start); d > callTimeout+2*time.Second {
						t.Errorf("%s: failing Append took %v", room, d)
					}
					if !counted {
						t.Errorf("%s: Append failed before the stop: %v", room, err)
						ready.Done()
					}
					return
				}
				acked[i] += per
				if !counted && acked[i] >= 5*per {
					counted = true
					ready.Done()
				}
			}
		})
	}
	<-enough
	if err := srv.StopImmediate(); err != nil {
		t.Fatal(err)
	}
	wg.Wait() // every appender has seen its first error
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded with the server stopped")
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}

	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after restart: %v", err)
	}
	for i := range rooms {
		room := fmt.Sprintf("r%d", i)
		st := storetest.MustOpenRoom(t, s, room)
		// A batch whose COMMIT was cut may or may not be stored; every
		// acknowledged one must be, and only whole batches.
		if st.LastOffset < acked[i] || st.LastOffset%per != 0 || st.LastOffset > acked[i]+per {
			t.Fatalf("%s: last offset %d after the crash, %d acknowledged", room, st.LastOffset, acked[i])
		}
		got := storetest.Offsets(storetest.MustRead(t, s, room, persistence.ReadQuery{Limit: 1000}).Messages)
		if !slices.Equal(got, storetest.Span(1, st.LastOffset)) {
			t.Fatalf("%s: stream after the crash = %v", room, got)
		}
		storetest.MustAppend(t, s, room, st.Claim(), storetest.Batch(st.LastOffset+1, per))
	}
}
