package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationLockKey is the pg_advisory_xact_lock key migrations run under, so
// that nodes starting together migrate one after the other ("troupe" in
// ASCII).
const migrationLockKey int64 = 0x74726f757065

// schemaV1 creates the initial schema.
//
// Names are COLLATE "C": bytewise, as ListRooms orders them, and the same
// on every server whatever its locale. Message fields that clients or
// identity providers control are bytea, not text: PostgreSQL text cannot
// hold NUL, which a client may send (JSON "\u0000") and the store must keep;
// read them with convert_from(col, 'UTF8'). A message is keyed by its room,
// the room's epoch and its offset, and reads select the room's current
// epoch only. There is no foreign key from messages to rooms: it would more
// than double the cost of inserting a message (a trigger query per row),
// and the store keeps the link itself (appends lock and check the room row;
// DeleteRoom deletes the row and then the messages in one transaction).
// Fences come from one sequence, so they grow across rooms and across a
// room's deletion and re-creation.
const schemaV1 = `
CREATE TABLE rooms (
	name          text COLLATE "C" NOT NULL PRIMARY KEY,
	epoch         text        NOT NULL,
	last_offset   bigint      NOT NULL DEFAULT 0 CHECK (last_offset >= 0),
	fence         bigint      NOT NULL DEFAULT 0,
	private       boolean     NOT NULL DEFAULT false,
	password_hash text        NOT NULL DEFAULT '',
	max_members   integer     NOT NULL DEFAULT 0,
	created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE messages (
	room      text COLLATE "C" NOT NULL,
	epoch     text   NOT NULL,
	"offset"  bigint NOT NULL CHECK ("offset" > 0),
	id        text   NOT NULL,
	ts        bigint NOT NULL, -- Unix milliseconds
	from_id   bytea  NOT NULL,
	from_name bytea  NOT NULL,
	kind      text   NOT NULL,
	text      bytea  NOT NULL,
	data      bytea,           -- raw JSON, NULL when absent
	reply_to  bytea  NOT NULL DEFAULT '',
	cid       bytea  NOT NULL DEFAULT '',
	PRIMARY KEY (room, epoch, "offset")
);
CREATE SEQUENCE fences AS bigint;
`

// schemaV2 adds client sessions, so a client can resume its session on any
// node sharing the database. Every string is bytea, as clients control them
// (a session id to resume arrives from the client and may hold NUL or
// invalid UTF-8; it then simply matches nothing). expires_at is Unix
// milliseconds, NULL while the session is attached to a live connection; the
// partial index serves DeleteExpiredSessions.
const schemaV2 = `
CREATE TABLE sessions (
	id         bytea   NOT NULL PRIMARY KEY,
	user_id    bytea   NOT NULL,
	name       bytea   NOT NULL,
	anonymous  boolean NOT NULL DEFAULT false,
	expires_at bigint  -- Unix milliseconds, NULL: attached
);
CREATE INDEX sessions_expiry ON sessions (expires_at) WHERE expires_at IS NOT NULL;
`

// schemaV3 adds node leases and room owners, for ClaimRoom. A lease
// expires by the database's clock (clock_timestamp()), never a node's;
// rooms.owner is the node of the room's latest claim, empty for none.
// Node names are text: the operator chooses them (persistence.CheckNode
// keeps NUL out).
const schemaV3 = `
ALTER TABLE rooms ADD COLUMN owner text COLLATE "C" NOT NULL DEFAULT '';
CREATE TABLE leases (
	node    text COLLATE "C" NOT NULL PRIMARY KEY,
	expires timestamptz NOT NULL
);
`

// schemaV4 adds shared documents: one snapshot per room (of the room's
// epoch when it was stored; reads join the room's current epoch), and a
// partial index of the document updates (kind 'doc'), which document reads
// and Trim's snapshot bound go through without scanning chat messages.
const schemaV4 = `
CREATE TABLE doc_snapshots (
	room     text COLLATE "C" NOT NULL PRIMARY KEY,
	epoch    text   NOT NULL,
	"offset" bigint NOT NULL CHECK ("offset" > 0),
	data     bytea  NOT NULL,
	ts       bigint NOT NULL -- Unix milliseconds
);
CREATE INDEX messages_doc ON messages (room, epoch, "offset") WHERE kind = 'doc';
`

// schemaV5 adds the presence-off room option (RoomConfig.NoPresence); rooms
// stored before it keep presence on.
const schemaV5 = `
ALTER TABLE rooms ADD COLUMN no_presence boolean NOT NULL DEFAULT false;
`

// migrations returns the schema migrations in order; a database with the
// first n applied is at schema version n. Append only: never edit a
// migration that has shipped.
func migrations() []string {
	return []string{schemaV1, schemaV2, schemaV3, schemaV4, schemaV5}
}

// migrate brings the schema up to date in one transaction, under an advisory
// lock so concurrent Opens of one database apply each migration once. Each
// applied version is a row of schema_versions. It refuses a database at a
// version newer than this code knows. A database already up to date is only
// read, so a read-only database opens.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	migs := migrations()
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	cur, err := schemaVersion(ctx, tx)
	if err != nil {
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	if cur > len(migs) {
		return fmt.Errorf("migrate: schema version %d is newer than the %d this build supports (was the database migrated by a newer troupe?)", cur, len(migs))
	}
	if cur == len(migs) {
		return nil
	}
	if cur == 0 {
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_versions (
			version    integer     NOT NULL PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return fmt.Errorf("migrate: create schema_versions: %w", err)
		}
	}
	for v := cur; v < len(migs); v++ {
		if _, err := tx.Exec(ctx, migs[v]); err != nil {
			return fmt.Errorf("migrate: to version %d: %w", v+1, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_versions (version) VALUES ($1)", v+1); err != nil {
			return fmt.Errorf("migrate: record version %d: %w", v+1, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

// schemaVersion returns the highest applied schema version, 0 for a
// database without schema_versions.
func schemaVersion(ctx context.Context, tx pgx.Tx) (int, error) {
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass('schema_versions') IS NOT NULL").Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		return 0, nil
	}
	var v int
	err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_versions").Scan(&v)
	return v, err
}
