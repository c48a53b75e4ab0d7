package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// schemaV1 creates the initial schema. Offsets are stored as INTEGER
// (int64); "offset" is quoted because OFFSET is an SQL keyword. messages is a
// WITHOUT ROWID table clustered on (room, offset), so a page read is one range
// scan of one B-tree.
const schemaV1 = `
CREATE TABLE rooms (
	name          TEXT    NOT NULL PRIMARY KEY,
	epoch         TEXT    NOT NULL,
	last_offset   INTEGER NOT NULL DEFAULT 0 CHECK (last_offset >= 0),
	private       INTEGER NOT NULL DEFAULT 0,
	password_hash TEXT    NOT NULL DEFAULT '',
	max_members   INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL -- Unix milliseconds
);
CREATE TABLE messages (
	room      TEXT    NOT NULL REFERENCES rooms (name),
	"offset"  INTEGER NOT NULL CHECK ("offset" > 0),
	id        TEXT    NOT NULL,
	ts        INTEGER NOT NULL, -- Unix milliseconds
	from_id   TEXT    NOT NULL,
	from_name TEXT    NOT NULL,
	kind      TEXT    NOT NULL,
	text      TEXT    NOT NULL,
	data      BLOB,             -- raw JSON, NULL when absent
	reply_to  TEXT    NOT NULL DEFAULT '',
	cid       TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (room, "offset")
) WITHOUT ROWID;
`

// schemaV2 adds ownership fences: every OpenRoom claims its room with the
// next value of one store-wide counter (claims.last_fence), recorded in
// rooms.fence; appends carrying another fence are refused.
const schemaV2 = `
ALTER TABLE rooms ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;
CREATE TABLE claims (
	id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	last_fence INTEGER NOT NULL
);
INSERT INTO claims (id, last_fence) VALUES (1, 0);
`

// schemaV3 adds client sessions, so a client can resume its session on
// another node (or process) sharing the file. expires_at is Unix
// milliseconds, NULL while the session is attached to a live connection; the
// partial index serves DeleteExpiredSessions.
const schemaV3 = `
CREATE TABLE sessions (
	id         TEXT    NOT NULL PRIMARY KEY,
	user_id    TEXT    NOT NULL,
	name       TEXT    NOT NULL,
	anonymous  INTEGER NOT NULL DEFAULT 0,
	expires_at INTEGER -- Unix milliseconds, NULL: attached
) WITHOUT ROWID;
CREATE INDEX sessions_expiry ON sessions (expires_at) WHERE expires_at IS NOT NULL;
`

// schemaV4 adds node leases and room owners, for ClaimRoom. expires_at is
// Unix microseconds by the local clock (SQLite stores serve one node);
// rooms.owner is the node of the room's latest claim, empty for none.
const schemaV4 = `
ALTER TABLE rooms ADD COLUMN owner TEXT NOT NULL DEFAULT '';
CREATE TABLE leases (
	node       TEXT    NOT NULL PRIMARY KEY,
	expires_at INTEGER NOT NULL -- Unix microseconds
) WITHOUT ROWID;
`

// schemaV5 adds shared documents: one snapshot per room (of the room's
// epoch when it was stored; reads join the room's current epoch), and a
// partial index of the document updates (kind 'doc'), which document reads
// and Trim's snapshot bound go through without scanning chat messages. The
// snapshot table keeps rowids: a snapshot may be tens of KiB.
const schemaV5 = `
CREATE TABLE doc_snapshots (
	room     TEXT    NOT NULL PRIMARY KEY REFERENCES rooms (name),
	epoch    TEXT    NOT NULL,
	"offset" INTEGER NOT NULL CHECK ("offset" > 0),
	data     BLOB    NOT NULL,
	ts       INTEGER NOT NULL -- Unix milliseconds
);
CREATE INDEX messages_doc ON messages (room, "offset") WHERE kind = 'doc';
`

// schemaV6 adds the presence-off room option (RoomConfig.NoPresence); rooms
// stored before it keep presence on.
const schemaV6 = `
ALTER TABLE rooms ADD COLUMN no_presence INTEGER NOT NULL DEFAULT 0;
`

// migrations returns the schema migrations in order; after applying the
// first n of them the database's user_version is n. Append only: never edit a
// migration that has shipped.
func migrations() []string {
	return []string{schemaV1, schemaV2, schemaV3, schemaV4, schemaV5, schemaV6}
}

// migrate brings the schema of the database behind w up to date in one
// transaction. It refuses a database whose user_version is newer than this
// code knows.
func migrate(ctx context.Context, w *sql.DB) error {
	migs := migrations()
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var cur int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&cur); err != nil {
		return fmt.Errorf("migrate: read user_version: %w", err)
	}
	if cur > len(migs) {
		return fmt.Errorf("migrate: schema version %d is newer than the %d this build supports", cur, len(migs))
	}
	if cur == len(migs) {
		return nil
	}
	for v := cur; v < len(migs); v++ {
		if _, err := tx.ExecContext(ctx, migs[v]); err != nil {
			return fmt.Errorf("migrate: to version %d: %w", v+1, err)
		}
	}
	// PRAGMA takes no bound parameters; the value is an int we control.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migs))); err != nil {
		return fmt.Errorf("migrate: set user_version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}
