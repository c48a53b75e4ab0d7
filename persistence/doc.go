// Package persistence defines how troupe stores room streams, room
// configuration, client sessions and node leases: the Store interface
// (store.go, session.go, lease.go), its types and sentinel
// errors, and the invariants every implementation keeps. It also holds the
// in-memory store, Memory, which retains only the latest MemoryRetention
// messages of each room and nothing across restarts.
//
// The package imports no SQL package or driver, so code that only uses a
// store (the actors engine) depends on nothing more. The rest lives in
// subpackages:
//
//   - persistence/sqlite: the SQLite store, a database file accessed through
//     the pure-Go modernc.org/sqlite driver. It is the default: the server's
//     default store URL is "sqlite://data/troupe.db". It runs in WAL mode with
//     synchronous=FULL, so a write that returned survives a process crash
//     and, on storage that honours fsync, a power loss.
//   - persistence/stores: Open picks a store from a store URL ("memory:",
//     "sqlite:///absolute/path.db" or "sqlite://path/relative/to/working/dir.db");
//     ValidateURL checks a URL without opening anything. postgres:// URLs are
//     recognised but not built in yet.
//   - persistence/storetest: Run, the contract suite that checks a Store
//     against the invariants below; every store's tests run it.
//   - persistence/retention: Policy, ParsePolicy and Runner, which trims old
//     history of every room (Store.Trim) by age and count, never below a
//     floor of latest messages.
//
// # Invariants
//
// Every store keeps these, and storetest.Run checks them:
//
//   - A room has an epoch, a random id from NewEpoch chosen when the room is
//     created (by OpenRoom or ConfigureRoom). It never changes while the room
//     exists; DeleteRoom erases the room and a room created again under the
//     same name gets a new epoch and an empty stream.
//   - Within an epoch, offsets start at 1 and are gap-free: Append accepts a
//     batch only if its first offset is the stored last offset + 1 and its
//     offsets are consecutive (else ErrOffsetMismatch, see CheckBatch), and
//     only under the room's current epoch (else ErrEpochMismatch;
//     ErrNoSuchRoom for a room that does not exist).
//   - Append is atomic: the whole batch and the new last offset are stored, or
//     nothing is.
//   - Read returns messages in ascending offset order; an unknown room reads
//     as an empty stream. Empty results are empty, non-nil slices. A
//     ReadQuery CheckQuery rejects fails with ErrInvalidQuery.
//   - Message.Data is stored as raw bytes: nil (or empty) is stored as absent
//     and reads back nil; anything else reads back byte for byte. Stores copy
//     Data, so neither side may observe the other's later modifications.
//   - Trim deletes only a prefix of a room's retained stream (the oldest
//     messages), never the room, its epoch or its LastOffset: after a trim,
//     Read returns the retained messages only (with More right in both
//     directions), Append continues after LastOffset, and no offset is used
//     twice. OldestOffset names the first retained offset.
//   - Claims are fenced: OpenRoom and ClaimRoom hand out a fence greater
//     than every fence handed out for the room before, and Append under any
//     other fence fails with ErrFenced. OpenRoom claims unconditionally and
//     leaves the room without owner; ClaimRoom claims for a node, and only
//     when the room has no owner, is the node's own, or its owner holds no
//     live lease (else *OwnedError, wrapping ErrOwned), checked atomically
//     with the claim, so of nodes racing for a room at most one wins.
//     RoomState.Owner and RoomInfo.Owner name the node of the latest claim.
//   - Node leases (LeaseStore) expire by the store's clock (the database's
//     for PostgreSQL); Leases lists the live ones only, ordered by node.
//     ReleaseLease makes the node's rooms claimable at once.
//   - Sessions (SessionStore) are records keyed by ID; their Expires is kept
//     in Unix milliseconds, and a zero Expires (attached) reads back zero
//     and is never deleted by DeleteExpiredSessions.
//   - After Close, every method but Close fails with an error wrapping
//     ErrClosed.
//
// Store errors carry the store kind, the operation and the room as context and
// wrap the package's sentinel errors where one applies, so test them with
// errors.Is.
package persistence
