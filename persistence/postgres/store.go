// Package postgres is the PostgreSQL implementation of persistence.Store, on
// github.com/jackc/pgx/v5 with a bounded connection pool (pgxpool). Several
// troupe nodes may share one database: rooms are claimed with fences from a
// database sequence, and every write checks the claim in its transaction.
//
// The schema lives in the database's default schema (tables rooms,
// messages, sessions, leases, schema_versions, sequence fences); it is
// created and migrated by Open. Node leases expire by the database's clock,
// so the nodes' clocks need not agree.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/groupcommit"
	"github.com/troupe-chat/troupe/persistence/storeurl"
)

// defaultMaxConns is the pool size when neither the DSN's pool_max_conns nor
// WithMaxConns sets one.
const defaultMaxConns = 8

// defaultConnectTimeout bounds establishing one connection when the DSN sets
// no connect_timeout, so an unreachable server fails fast even under a
// context without deadline.
const defaultConnectTimeout = 10 * time.Second

// idleInTransaction is the store's idle_in_transaction_session_timeout
// unless the DSN sets one: its transactions never wait between statements,
// and a session stopped inside one is ended before a node lease (3 s) runs
// out, so its rooms' row locks never outlive the node's claim.
const idleInTransaction = 2 * time.Second

// Store is a persistence.Store backed by a PostgreSQL database.
//
// Durability: Append returns nil only after its transaction committed, so
// with the server's default synchronous_commit=on and fsync=on an
// acknowledged batch survives a crash of the server or of this process. An
// error while the COMMIT itself was in flight (the connection was lost) is
// ambiguous, as with any networked database: the batch may have been stored.
// OpenRoom then reports the truth (LastOffset), and a writer that has seen an
// error must reopen the room before it appends again.
//
// Concurrency: at most the pool's size of connections are open; appends of
// many rooms share transactions (see group.go). Rooms are locked with
// SELECT … FOR UPDATE, so writers on several nodes serialise per room.
type Store struct {
	pool    *pgxpool.Pool
	name    string // the DSN without its password, for errors
	commits *groupcommit.Queue[roomBatch]

	closed    atomic.Bool
	closeOnce sync.Once
}

var _ persistence.Store = (*Store)(nil)

// Option adjusts how Open sets the store up.
type Option func(*options)

// options are what Option values set.
type options struct {
	maxConns   int // 0: the DSN's pool_max_conns, else defaultMaxConns
	committers int // 0: half the pool, at least 1
}

// WithMaxConns sets the pool's size (its maximum of open connections),
// overriding the DSN's pool_max_conns. n < 1 is ignored.
func WithMaxConns(n int) Option {
	return func(o *options) {
		if n >= 1 {
			o.maxConns = n
		}
	}
}

// WithCommitters sets how many group commits may run at once, each on a
// connection of the pool; by default half the pool, at least one. n < 1 is
// ignored; n is capped at the pool's size.
func WithCommitters(n int) Option {
	return func(o *options) {
		if n >= 1 {
			o.committers = n
		}
	}
}

// Open connects to the PostgreSQL database dsn names (a postgres:// URL or a
// key=value connection string, as pgx accepts) and creates or migrates the
// schema before it returns; ctx bounds that work. A DSN's pool_max_conns sets
// the pool size (default 8). Errors name the DSN with its password redacted.
// Open does not retry: an unreachable server fails at once.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	name := redact(dsn)
	s, err := open(ctx, dsn, name, opts)
	if err != nil {
		return nil, fmt.Errorf("postgres: open %s: %w", name, err)
	}
	return s, nil
}

// open is Open without the error context.
func open(ctx context.Context, dsn, name string, opts []Option) (*Store, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("the DSN does not parse (check its syntax and escaping)")
	}
	switch {
	case o.maxConns > 0:
		cfg.MaxConns = int32(o.maxConns)
	case !hasParam(dsn, "pool_max_conns"):
		cfg.MaxConns = defaultMaxConns
	}
	if o.committers == 0 {
		o.committers = max(1, int(cfg.MaxConns)/2)
	}
	o.committers = min(o.committers, int(cfg.MaxConns))
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "troupe"
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"]; !ok {
		// A process stopped inside a transaction (SIGSTOP, a stalled VM)
		// would hold its rooms' row locks and keep every other node from
		// claiming them: the server ends such a session instead, well
		// before a node lease expires.
		cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = strconv.Itoa(int(idleInTransaction / time.Millisecond))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg) // connects lazily
	if err != nil {
		return nil, err
	}
	s := &Store{pool: pool, name: name}
	s.commits = groupcommit.New(o.committers, s.commitGroup)
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, describe(err)
	}
	return s, nil
}

// hasParam reports whether the DSN sets the connection parameter key.
func hasParam(dsn, key string) bool {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		return u.Query().Has(key)
	}
	return strings.Contains(dsn, key+"=") || strings.Contains(dsn, key+" =")
}

// redact returns dsn without its password, for messages.
func redact(dsn string) string {
	if strings.Contains(dsn, "://") {
		return storeurl.URL{Kind: storeurl.Postgres, DSN: dsn}.Redacted()
	}
	return "(connection string)" // key=value form: might hold password=…
}

// failed returns err for the caller, first dropping every pooled
// connection when err says the connection to the server was lost (the
// server restarted, crashed or the network failed): the idle connections
// are most likely dead too, and the next call should get fresh ones rather
// than fail on one of them. Errors the server reported for a statement, and
// ends of the caller's context, leave the pool alone.
func (s *Store) failed(err error) error {
	if lostConnection(err) {
		s.pool.Reset()
	}
	return describe(err)
}

// lostConnection reports whether err means the connection it happened on is
// gone: a shutdown or crash notice from the server, or any failure other
// than a statement error, a context's end or a persistence error.
func lostConnection(err error) bool {
	var pgErr *pgconn.PgError
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, pgx.ErrNoRows), isContractError(err):
		return false
	case errors.As(err, &pgErr):
		return strings.HasPrefix(pgErr.Code, "57P") // admin, crash, or immediate shutdown
	}
	return true
}

// isContractError reports whether err is one of the persistence package's
// errors, which say nothing about the connection.
func isContractError(err error) bool {
	for _, e := range []error{persistence.ErrClosed, persistence.ErrNoSuchRoom, persistence.ErrEpochMismatch,
		persistence.ErrFenced, persistence.ErrOffsetMismatch, persistence.ErrInvalidQuery,
		persistence.ErrNoSuchSession, persistence.ErrInvalidTrim, persistence.ErrOwned, persistence.ErrInvalidSnapshot,
		persistence.ErrInvalidLease} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// describe adds what went wrong in words to errors whose cause is that no
// connection to the server could be established (as opposed to the server
// refusing one, say for a wrong password or database name).
func describe(err error) error {
	var ce *pgconn.ConnectError
	var pgErr *pgconn.PgError
	if errors.As(err, &ce) && !errors.As(err, &pgErr) { // not refused by the server itself
		return fmt.Errorf("cannot reach the PostgreSQL server: %w", err)
	}
	return err
}

// check returns persistence.ErrClosed after Close.
func (s *Store) check() error {
	if s.closed.Load() {
		return persistence.ErrClosed
	}
	return nil
}

// Ping implements persistence.Store: it runs a trivial query on a pooled
// connection.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.check(); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	if _, err := s.pool.Exec(ctx, "SELECT 1"); err != nil {
		return fmt.Errorf("postgres: ping: %w", s.failed(err))
	}
	return nil
}

// Close implements persistence.Store. It waits for the calls in flight to
// release their connections, then closes the pool. Calling it again returns
// nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.pool.Close()
	})
	return nil
}
