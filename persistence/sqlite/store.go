// Package sqlite is the SQLite implementation of persistence.Store: a
// database file accessed through the pure-Go modernc.org/sqlite driver, in
// WAL mode with synchronous=FULL. It is troupe's default store; see Store for
// its durability and concurrency guarantees.
//
// This package is the only one that imports database/sql and the driver;
// packages that need just the interface import persistence, and servers open
// a store from its URL with persistence/stores.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/groupcommit"
)

// defaultSynchronous is the PRAGMA synchronous setting stores run with; see
// the Store type for what it guarantees. NORMAL would make single-message
// appends about 4x faster (~0.1 ms instead of ~0.4 ms) at the price of losing
// the latest commits on power loss; a 100-message batch costs ~1.4 ms with
// FULL. See BenchmarkAppend.
const defaultSynchronous = "FULL"

// busyTimeoutMS is how long a connection waits for a lock held by another
// connection (or process) before failing with SQLITE_BUSY.
const busyTimeoutMS = 5000

// Store is a persistence.Store backed by a SQLite database file through the
// pure-Go modernc.org/sqlite driver.
//
// Durability: the database runs in WAL mode with synchronous=FULL, which
// syncs the write-ahead log before a commit returns. Once Append (or any other
// write) has returned nil, the transaction survives a process crash (SIGKILL)
// and, provided the storage honours fsync, an OS crash or power loss.
//
// Concurrency: foreign keys are enforced on every connection. All writes go through a single connection that begins
// its transactions with BEGIN IMMEDIATE, so writers of this process never
// contend with each other for the lock; reads use a separate pool of read-only
// connections and run concurrently with each other and with the writer. Other
// processes opening the same file are tolerated through busy_timeout.
//
// The schema is migrated on open, tracked with PRAGMA user_version.
type Store struct {
	path   string
	w      *sql.DB   // exactly one connection; every write transaction
	r      *sql.DB   // read-only (query_only) connections
	insert *sql.Stmt // prepared on w: one message row

	// Prepared on r: the read queries of Read, RecentCIDs and the lookups.
	stReadAfter, stReadBefore, stReadLatest, stRecentCIDs, stLookup *sql.Stmt

	commits *groupcommit.Queue[roomBatch] // Append's transactions, shared between rooms

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ persistence.Store = (*Store)(nil)

// Open opens (creating when missing) the SQLite database at path, which is
// made absolute against the working directory; missing parent directories are
// created. The schema is created or migrated before it returns; ctx bounds
// that work.
func Open(ctx context.Context, path string) (*Store, error) {
	return openSync(ctx, path, defaultSynchronous)
}

// openSync is Open with a chosen PRAGMA synchronous value; the benchmarks use it to compare modes.
func openSync(ctx context.Context, path, synchronous string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: open: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	s := &Store{path: abs}
	s.commits = s.newCommits()
	if err := s.open(ctx, synchronous); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	return s, nil
}

// open connects both pools, migrates the schema and prepares statements.
func (s *Store) open(ctx context.Context, synchronous string) error {
	common := url.Values{}
	common.Set("_busy_timeout", strconv.Itoa(busyTimeoutMS))
	common.Set("_foreign_keys", "1")

	wq := maps.Clone(common) // values are replaced by Set, never appended to
	wq.Set("_journal_mode", "WAL")
	wq.Set("_synchronous", synchronous)
	wq.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", dsn(s.path, wq))
	if err != nil {
		return err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s.w = w

	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, want wal (does the file system support shared memory?)", mode)
	}
	if err := migrate(ctx, w); err != nil {
		return err
	}
	if s.insert, err = w.PrepareContext(ctx, sqlInsertMessage); err != nil {
		return fmt.Errorf("prepare insert: %w", err)
	}

	rq := maps.Clone(common) // values are replaced by Set, never appended to
	rq.Set("_query_only", "1")
	r, err := sql.Open("sqlite", dsn(s.path, rq))
	if err != nil {
		return err
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	s.r = r
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&s.stReadAfter, sqlReadAfter},
		{&s.stReadBefore, sqlReadBefore},
		{&s.stReadLatest, sqlReadLatest},
		{&s.stRecentCIDs, sqlRecentCIDs},
		{&s.stLookup, sqlLookupRoom},
	} {
		if *p.stmt, err = r.PrepareContext(ctx, p.query); err != nil {
			return fmt.Errorf("prepare read statement: %w", err)
		}
	}
	return nil
}

// dsn returns a file: URI for the absolute path abs with the driver
// parameters q. The path is percent-encoded, so names holding '?', '#' or '%'
// reach SQLite intact.
func dsn(abs string, q url.Values) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	return u.String()
}

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// check returns persistence.ErrClosed after Close.
func (s *Store) check() error {
	if s.closed.Load() {
		return persistence.ErrClosed
	}
	return nil
}

// Ping implements persistence.Store: it reads the database header through the read pool.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.check(); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	var v int
	if err := s.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close implements persistence.Store. It closes both pools (the last connection to close
// checkpoints the WAL into the database file). Calling it again returns the
// first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		var errs []error
		for _, st := range []*sql.Stmt{s.insert, s.stReadAfter, s.stReadBefore, s.stReadLatest, s.stRecentCIDs, s.stLookup} {
			if st != nil {
				errs = append(errs, st.Close())
			}
		}
		if s.r != nil {
			errs = append(errs, s.r.Close())
		}
		if s.w != nil {
			errs = append(errs, s.w.Close())
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("sqlite: close %s: %w", s.path, err)
		}
	})
	return s.closeErr
}
