// Package actors is troupe's engine: connection, room, user, session and heartbeat
// actors on protoactor-go, and the registry that finds them.
//
// Invariants:
//   - Every piece of state has one owner. A room's stream (epoch, offsets, recent
//     messages, dedup window) and membership belong to its room actor; a
//     connection's protocol state to its connection actor; sessions to the
//     sessions actor; a user's connections to its user actor.
//   - A room assigns offsets in mailbox order, writes each batch to the store in
//     one transaction, and only then acks the senders and broadcasts the batch,
//     encoded once, to its members' outboxes. Nothing unstored is acked.
//   - Actors never block on I/O: store calls run on a room's store lane (one
//     goroutine per active room) and come back as messages; sockets are reached
//     only through the bounded, non-blocking Outbox and Peer ports.
//   - This package imports no WebSocket, HTTP or SQL driver package
//     (imports_test.go enforces it): the transport and the store are injected.
package actors
