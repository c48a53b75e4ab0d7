// Package transport is troupe's network edge: the HTTP server, WebSocket
// upgrades through gws, the per-connection outbox, and (in subpackages) the
// wire codec and token verification.
//
// Invariants:
//   - A connection's read goroutine decodes and validates each frame once and
//     posts the typed command to its connection actor; it never touches actor
//     state. gws's ParallelEnabled stays off so frames arrive in order.
//   - Every write goes through the connection's bounded outbox; a full outbox
//     closes the connection with 4001, so no actor ever waits for a socket.
//   - Shutdown waits for every read loop and writer goroutine it started.
package transport
